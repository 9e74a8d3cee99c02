"""Tasks & Logs panel: the live task list with progress and cancel, a task's output, and the live log."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background
from agentic_desktop.background import async_slot
from agentic_desktop.panels.tasks_table import (
    PROGRESS_COLUMN,
    STATUS_COLOURS,
    TASK_ROLE,
    ProgressDelegate,
    TasksTableModel,
)
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.log_view import LogView
from server.services.errors import AgenticError

if TYPE_CHECKING:
    import asyncio

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import AgentChanged, TaskChanged, TaskProgressed
    from server.services.logs import LogEntry
    from server.services.tasks import Task

STATUS_FILTERS = {
    "All tasks": None,
    "Running": "running",
    "Pending": "pending",
    "Completed": "completed",
    "Failed": "failed",
    "Cancelled": "cancelled",
}
LIST_LIMIT = 200


def describe_output(task: Task) -> str:
    """A task's result as HTML for the output viewer."""
    colour = STATUS_COLOURS.get(task.status, "#1d2230")
    parts = [
        f'<p><b style="color:{colour}">{task.status.capitalize()}</b> — {html.escape(task.task_type)}'
        f' task <span style="color:#8a93a6">{task.id}</span></p>'
    ]
    if task.error:
        parts.append(f'<p style="color:#d64545">{html.escape(task.error)}</p>')
    output = task.output or {}
    text = output.get("response") or output.get("summary") or output.get("analysis")
    if text:
        parts.append(f"<p>{html.escape(str(text)).replace(chr(10), '<br>')}</p>")
    elif "result" in output:
        pretty = json.dumps(output["result"], indent=2, ensure_ascii=False)
        parts.append(f"<pre>{html.escape(pretty)}</pre>")
    elif task.status in ("pending", "running"):
        parts.append('<p style="color:#8a93a6">The output appears here when the task completes.</p>')
    if "compression_ratio" in output:
        parts.append(f"<p style='color:#5b6478'>Compression ratio {output['compression_ratio']}</p>")
    usage = task.model_usage
    if usage:
        parts.append(
            f"<p style='color:#5b6478'>{html.escape(str(usage.get('primary_model')))} · "
            f"{usage.get('tokens_used')} tokens · {usage.get('tokens_per_second')} tokens/s · "
            f"{usage.get('processing_time_ms')} ms</p>"
        )
    return "".join(parts)


class TasksPanel(QWidget):
    """Live tasks (status, progress, cancel), the selected task's output, and the live log."""

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._refreshing: asyncio.Task[None] | None = None
        self._shown_html = ""
        self._select_when_shown: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.addWidget(
            PanelHeader("Tasks & Logs", "Tasks as they queue, run and finish, and everything they log.")
        )

        self.status_filter = QComboBox()
        self.status_filter.addItems(list(STATUS_FILTERS))
        self.summary = QLabel()
        self.summary.setObjectName("cardDetail")
        self.refresh_button = QPushButton("Refresh")
        self.cancel_button = QPushButton("Cancel task")
        tools = QHBoxLayout()
        tools.addWidget(self.status_filter)
        tools.addWidget(self.summary, 1)
        tools.addWidget(self.refresh_button)
        tools.addWidget(self.cancel_button)
        layout.addLayout(tools)

        self.model = TasksTableModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(PROGRESS_COLUMN, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(PROGRESS_COLUMN, 150)

        self.output = QTextBrowser()
        self.output.setOpenExternalLinks(False)
        self.output.setPlaceholderText("Select a task to see its output.")
        self.log_view = LogView()
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self._titled("Output", self.output))
        lower.addWidget(self._titled("Live log", self.log_view))
        lower.setSizes([380, 620])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setSizes([260, 340])
        layout.addWidget(split, 1)

        self.status_filter.currentTextChanged.connect(lambda _text: self.schedule_refresh())
        self.refresh_button.clicked.connect(self.schedule_refresh)
        self.cancel_button.clicked.connect(self.on_cancel_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.model.dataChanged.connect(self._on_data_changed)
        bridge.task_changed.connect(self.on_task_changed)
        bridge.task_progressed.connect(self.on_task_progressed)
        bridge.log_entries.connect(self.on_log_entries)
        bridge.agent_changed.connect(self.on_agent_changed)
        QShortcut(
            QKeySequence(Qt.Key.Key_F5),
            self,
            self.schedule_refresh,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self.model.tick)
        self._ticker.start()
        self._on_selection()
        self.schedule_refresh()

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 8, 0, 0)
        label = QLabel(title.upper())
        label.setObjectName("cardTitle")
        layout.addWidget(label)
        layout.addWidget(widget, 1)
        return box

    # -- data --

    def schedule_refresh(self) -> None:
        """Reload in the background (a reload already running is replaced)."""
        self._refreshing = background.restart(self._refreshing, self.refresh(), name="tasks-refresh")

    async def refresh(self) -> None:
        """Reload the task list and the agent names."""
        status = STATUS_FILTERS[self.status_filter.currentText()]
        try:
            agents = await self._backend.agents.list(limit=1000)
            tasks = await self._backend.tasks.list(status=status, limit=LIST_LIMIT)
        except AgenticError as exc:
            self.summary.setText(f"Could not load the tasks: {exc}")
            return
        selected = self.selected_task()
        self.model.set_agent_names({agent.id: agent.name for agent in agents})
        self.model.reset(tasks)
        if selected is not None:
            self.select_task(selected.id)
        self._summarize()

    def _summarize(self) -> None:
        running = self._backend.tasks.active_count
        queued = self._backend.tasks.queued_count
        self.summary.setText(f"{running} running · {queued} queued · {self.model.rowCount()} shown")

    def selected_task(self) -> Task | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(TASK_ROLE) if rows else None

    def select_task(self, task_id: str) -> None:
        """Select ``task_id`` now, or as soon as its row arrives."""
        row = self.model.row_of(task_id)
        if row is None:
            self._select_when_shown = task_id
        else:
            self._select_when_shown = None
            self.table.selectRow(row)

    # -- live updates --

    @Slot(object)
    def on_task_changed(self, event: TaskChanged) -> None:
        status = STATUS_FILTERS[self.status_filter.currentText()]
        if status is None or event.task.status == status or self.model.row_of(event.task.id) is not None:
            self.model.upsert(event.task)
            if event.task.id == self._select_when_shown:
                self.select_task(event.task.id)
        self._summarize()

    @Slot(object)
    def on_task_progressed(self, event: TaskProgressed) -> None:
        self.model.set_progress(event.task_id, event.progress)

    @Slot(list)
    def on_log_entries(self, entries: list[LogEntry]) -> None:
        self.log_view.add(entries)

    @Slot(object)
    def on_agent_changed(self, event: AgentChanged) -> None:
        if event.deleted:
            self.schedule_refresh()  # the agent's tasks are gone with it
        else:
            self.model.set_agent_name(event.agent.id, event.agent.name)

    @Slot()
    def _on_selection(self) -> None:
        task = self.selected_task()
        self.cancel_button.setEnabled(task is not None and not task.finished)
        self.log_view.set_task(task.id if task else None)
        self._show_output(task)

    def _show_output(self, task: Task | None) -> None:
        html_text = describe_output(task) if task else ""
        if html_text != self._shown_html:
            self._shown_html = html_text
            self.output.setHtml(html_text)

    @Slot()
    def _on_data_changed(self) -> None:
        task = self.selected_task()
        if task is not None:
            self.cancel_button.setEnabled(not task.finished)
            self._show_output(task)

    # -- actions --

    @async_slot()
    async def on_cancel_clicked(self) -> None:
        """Cancel the selected task."""
        task = self.selected_task()
        if task is None:
            return
        self.cancel_button.setEnabled(False)
        try:
            await self._backend.tasks.cancel(task.id)
        except AgenticError as exc:
            self.summary.setText(f"Could not cancel: {exc}")
        finally:
            self._on_selection()
