"""Models: what Ollama has installed, downloads with progress and cancel, deletion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background, dialogs
from agentic_desktop.background import async_slot
from agentic_desktop.panels.hosts_table import hosts_of
from agentic_desktop.panels.models_table import NAME, ModelsTableModel, human_size
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.list_table import row_table
from server.services.errors import AgenticError, DependencyDown, NotFound

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import HostStateChanged, ModelPullProgressed, ModelsChanged, OllamaStatusChanged
    from server.services.llm import InstalledModel


class ModelsPanel(QWidget):
    """Table of installed models, with pull (progress, cancel), delete and a clear Ollama-down state."""

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._reachable = backend.llm.status.reachable
        self._pulling: str | None = None
        self._deleting = False
        self._refresh_task: asyncio.Task[None] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(10)
        self.header = PanelHeader("Models", f"The models installed in Ollama at {backend.llm.host}")
        layout.addWidget(self.header)
        self._all_models: list[InstalledModel] = []

        self.banner = QLabel()
        self.banner.setObjectName("modelsBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        layout.addWidget(self.banner)

        layout.addLayout(self._build_toolbar())
        layout.addWidget(self._build_pull_row())
        self.model = ModelsTableModel()
        self.table = self._build_table(self.model)
        layout.addWidget(self.table, 1)

        footer = QHBoxLayout()
        self.message = QLabel()
        self.message.setObjectName("modelsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QLabel("Loading…")
        self.summary.setObjectName("modelsSummary")
        footer.addWidget(self.message, 1)
        footer.addWidget(self.summary, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        layout.addLayout(footer)

        refresh_key = QShortcut(QKeySequence(Qt.Key.Key_F5), self)
        refresh_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        refresh_key.activated.connect(self.on_refresh_clicked)
        delete_key = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table)
        delete_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete_key.activated.connect(self.on_delete_clicked)

        bridge.models_changed.connect(self.on_models_changed)
        bridge.model_pull_progressed.connect(self.on_model_pull_progressed)
        bridge.ollama_status_changed.connect(self.on_ollama_status_changed)
        bridge.host_state_changed.connect(self.on_host_state_changed)

        if not self._reachable:
            self._show_down(backend.llm.status.detail)
        for running in backend.models.pulls()[:1]:  # a pull started before the panel existed
            self._begin_pull(running.model)
        self._update_actions()
        self.schedule_refresh()

    # -- building --

    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        self.pull_edit = QLineEdit()
        self.pull_edit.setObjectName("pullEdit")
        self.pull_edit.setPlaceholderText("Model to pull, e.g. llama3.2:3b")
        self.pull_edit.setClearButtonEnabled(True)
        self.pull_edit.setMinimumWidth(260)
        self.pull_edit.setMaximumWidth(420)
        self.pull_edit.returnPressed.connect(self.on_pull_clicked)
        self.pull_button = QPushButton("Pull")
        self.pull_button.setObjectName("primary")
        self.pull_button.setToolTip("Download the model typed on the left from the Ollama library")
        self.pull_button.clicked.connect(self.on_pull_clicked)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.setToolTip("Ask Ollama again (F5)")
        self.refresh_button.clicked.connect(self.on_refresh_clicked)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("deleteButton")
        self.delete_button.setToolTip("Remove the selected model from Ollama (Del)")
        self.delete_button.clicked.connect(self.on_delete_clicked)
        self.host_filter = QComboBox()
        self.host_filter.setObjectName("hostFilter")
        self.host_filter.setToolTip("Show the models one Ollama host has (the Hosts panel lists the hosts)")
        self.host_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.host_filter.currentIndexChanged.connect(self._apply_host_filter)
        self._fill_host_filter()
        row.addWidget(self.pull_edit, 1)
        row.addWidget(self.pull_button)
        row.addStretch(1)
        row.addWidget(self.host_filter)
        row.addWidget(self.refresh_button)
        row.addWidget(self.delete_button)
        return row

    def _build_pull_row(self) -> QWidget:
        self.pull_row = QWidget()
        self.pull_row.setObjectName("pullRow")
        row = QHBoxLayout(self.pull_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(10)
        self.status_label = QLabel()
        self.status_label.setObjectName("pullStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setObjectName("pullProgress")
        self.progress.setFixedWidth(260)
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelPullButton")
        self.cancel_button.setToolTip("Stop the download; pulling again resumes it")
        self.cancel_button.clicked.connect(self.on_cancel_clicked)
        self.cancel_button.hide()
        row.addWidget(self.status_label, 1)
        row.addWidget(self.progress)
        row.addWidget(self.cancel_button)
        self.pull_row.hide()
        return self.pull_row

    def _build_table(self, model: ModelsTableModel) -> QTableView:
        table = row_table(model, "modelsTable")
        table.setShowGrid(False)
        table.setCornerButtonEnabled(False)
        table.verticalHeader().setDefaultSectionSize(32)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        table.setSortingEnabled(True)
        table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        table.selectionModel().selectionChanged.connect(self._update_actions)
        return table

    # -- what tests and the window use --

    def selected_name(self) -> str | None:
        """Name of the model in the selected row, if a row is selected."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.model_at(rows[0].row()).name if rows else None

    def select(self, name: str) -> bool:
        """Select the row showing ``name``; ``False`` when no row does."""
        row = self.model.row_of(name)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    def schedule_refresh(self) -> None:
        """Reload in the background (a reload still running is replaced)."""
        self._refresh_task = background.restart(self._refresh_task, self.refresh(), name="models-refresh")

    async def refresh(self) -> None:
        """Reload the installed models."""
        self.refresh_button.setEnabled(False)
        try:
            models = await self._backend.models.installed()
        except DependencyDown as exc:
            self._show_down(str(exc))
        except AgenticError as exc:
            self._say(f"Could not list the models: {exc}", "bad")
        else:
            self._show_models(models)
        finally:
            self.refresh_button.setEnabled(True)

    async def confirm(self, title: str, text: str) -> bool:
        """Ask before deleting (tests answer for the operator)."""
        return await dialogs.confirm(self, title, text, yes_text="Delete")

    # -- user actions --

    @Slot()
    def on_refresh_clicked(self) -> None:
        """Ask Ollama for its models again (the Refresh button and F5)."""
        self.schedule_refresh()

    @Slot()
    def on_pull_clicked(self) -> None:
        """Start downloading the model typed in the line edit (Pull, or Enter in the line edit)."""
        name = self.pull_edit.text().strip()
        if self._pulling is not None or not self._reachable:
            return
        if not name:
            self._set_pull_status("Type the name of a model to pull, for example llama3.2:3b.", "bad")
            return
        try:
            self._backend.models.start_pull(name)
        except AgenticError as exc:
            self._set_pull_status(f"Could not pull {name}: {exc}", "bad")
            return
        self.pull_edit.clear()
        self._begin_pull(name)

    @Slot()
    def on_cancel_clicked(self) -> None:
        """Stop the download in progress."""
        name = self._pulling
        if name is None:
            return
        self.cancel_button.setEnabled(False)
        try:
            self._backend.models.cancel_pull(name)
        except NotFound:
            self._set_pull_status(f"The pull of {name} had already ended.", None)
            return
        self._set_pull_status(f"Cancelling the pull of {name}…", None)

    @async_slot()
    async def on_delete_clicked(self) -> None:
        """Ask, then remove the selected model from Ollama (Delete…, or the Delete key in the table)."""
        name = self.selected_name()
        if name is None or self._deleting or not self._reachable:
            return
        row = self.model.row_of(name)
        size = human_size(self.model.model_at(row).size) if row is not None else "its space"
        views = self._backend.router.views()
        holders = hosts_of(name, views) if len(views) > 1 else []
        where = f"the hosts {', '.join(holders)}" if holders else f"Ollama at {self._backend.llm.host}"
        question = (
            f"Delete {name} from {where}?\n\n"
            f"This frees {size} on disk. Agents that use it stop working until it is pulled again."
        )
        if not await self.confirm("Delete model", question):
            return
        self._deleting = True
        self._update_actions()
        try:
            await self._backend.models.delete(name)
        except NotFound:
            self._say(f"{name} was already gone from Ollama.", None)
        except AgenticError as exc:
            self._say(f"Could not delete {name}: {exc}", "bad")
        else:
            self._say(f"Deleted {name}.", "ok")
        finally:
            self._deleting = False
            self._update_actions()
        self.schedule_refresh()

    # -- bus signals --

    @Slot(object)
    def on_models_changed(self, _event: ModelsChanged) -> None:
        """A model was pulled or deleted (here or through the API): show the new list."""
        self.schedule_refresh()

    @Slot(object)
    def on_ollama_status_changed(self, event: OllamaStatusChanged) -> None:
        """Show the Ollama-down state, or leave it (and reload) when Ollama answers again."""
        if not event.reachable:
            self._show_down(event.detail)
            return
        if not self._reachable or event.models_available != self.model.rowCount():
            self.schedule_refresh()

    @Slot(object)
    def on_model_pull_progressed(self, event: ModelPullProgressed) -> None:
        """Move the progress bar; at the end say how the pull went."""
        if self._pulling is None and not event.done:
            self._begin_pull(event.model)  # started elsewhere (the API): show it too
        if event.model != self._pulling:
            return
        if event.done:
            self._end_pull(event)
            return
        if event.total and event.completed is not None:
            percent = min(100, round(100 * event.completed / event.total))
            self.progress.setRange(0, 100)
            self.progress.setValue(percent)
            self._set_pull_status(f"{event.model} · {event.status} — {percent}%", None)
        else:
            self.progress.setRange(0, 0)  # manifest, verifying, writing: no size to count
            self._set_pull_status(f"{event.model} · {event.status}", None)

    # -- several hosts --

    def _fill_host_filter(self) -> bool:
        """One entry per host, shown only when there are several; the subtitle says where models live.
        Returns whether hosts came or went since the last fill."""
        views = self._backend.router.views()
        before = [self.host_filter.itemData(row) for row in range(1, self.host_filter.count())]
        chosen = self.host_filter.currentData()
        self.host_filter.blockSignals(True)
        try:
            self.host_filter.clear()
            self.host_filter.addItem("All hosts", None)
            for view in views:
                down = " (down)" if view.state == "down" else ""
                self.host_filter.addItem(f"{view.id}{down}", view.id)
            index = self.host_filter.findData(chosen) if chosen else 0
            self.host_filter.setCurrentIndex(max(index, 0))
        finally:
            self.host_filter.blockSignals(False)
        several = len(views) > 1
        self.host_filter.setVisible(several)
        self.header.subtitle.setText(
            f"The models installed on your {len(views)} Ollama hosts; pulls go to the host from the "
            f"settings ({self._backend.llm.host})"
            if several
            else f"The models installed in Ollama at {self._backend.llm.host}"
        )
        return before != [view.id for view in views]

    @Slot(object)
    def on_host_state_changed(self, _event: HostStateChanged) -> None:
        """List the hosts again; reload the models when a host was added or removed (a host going down
        or up changes the count of models, and ``OllamaStatusChanged`` reloads for that)."""
        if self._fill_host_filter():
            self.schedule_refresh()

    @Slot()
    def _apply_host_filter(self) -> None:
        if self._reachable:
            self._show_models(self._all_models)

    # -- showing state --

    def _show_models(self, models: Sequence[InstalledModel]) -> None:
        self._reachable = True
        self.banner.hide()
        self._all_models = list(models)
        host_id = self.host_filter.currentData()
        if host_id is not None:
            view = next((view for view in self._backend.router.views() if view.id == host_id), None)
            have = set(view.models) if view is not None else set()
            models = [model for model in models if model.name in have]
        selected = self.selected_name()
        self.model.set_models(models)
        if selected is not None:
            self.select(selected)
        count = self.model.rowCount()
        self.summary.setText(
            f"{count} model{'s' if count != 1 else ''} · {human_size(self.model.total_size())} on disk"
        )
        self._update_actions()

    def _show_down(self, detail: str) -> None:
        self._reachable = False
        if self._pulling is None:
            self.pull_row.hide()  # the last pull's outcome is old news next to the banner
        self.banner.setText(detail)
        self.banner.show()
        self.model.set_models([])
        self.summary.setText("Ollama not reachable")
        self._update_actions()

    def _begin_pull(self, name: str) -> None:
        self._pulling = name
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.pull_row.show()
        self._set_pull_status(f"{name} · starting", None)
        self._update_actions()

    def _end_pull(self, event: ModelPullProgressed) -> None:
        self._pulling = None
        self.progress.hide()
        self.progress.setRange(0, 100)
        self.progress.reset()
        self.cancel_button.hide()
        if event.error is None:
            self._set_pull_status(f"Pulled {event.model}.", "ok")
        elif event.error == "cancelled":
            self._set_pull_status(
                f"Pull of {event.model} cancelled. Ollama keeps what it downloaded: pull again to resume.",
                None,
            )
        else:
            self._set_pull_status(f"Could not pull {event.model}: {event.error}", "bad")
        self._update_actions()
        self.schedule_refresh()

    def _set_pull_status(self, text: str, state: str | None) -> None:
        self.pull_row.show()
        _set_state(self.status_label, text, state)

    def _say(self, text: str, state: str | None) -> None:
        _set_state(self.message, text, state)

    @Slot()
    def _update_actions(self) -> None:
        up = self._reachable
        self.pull_button.setEnabled(up and self._pulling is None)
        self.delete_button.setEnabled(up and not self._deleting and self.selected_name() is not None)


def _set_state(label: QLabel, text: str, state: str | None) -> None:
    """Show ``text`` in ``label``, coloured by ``state`` (ok, bad, or neutral)."""
    label.setText(text)
    label.setProperty("state", state or "")
    label.style().unpolish(label)
    label.style().polish(label)
