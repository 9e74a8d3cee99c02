"""Agents panel: a searchable table of agents, with create, edit, run-task and delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background, dialogs
from agentic_desktop.background import async_slot
from agentic_desktop.panels.agent_dialogs import AgentDialog, RunTaskDialog
from agentic_desktop.panels.agents_table import AGENT_ROLE, AgentsFilter, AgentsTableModel
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.list_table import row_table
from server.services.errors import AgenticError

if TYPE_CHECKING:
    import asyncio

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import AgentChanged
    from server.services.agents import Agent


class AgentsPanel(QWidget):
    """Agents: find, create, edit, run, delete."""

    task_started = Signal(object)

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._dialog: AgentDialog | RunTaskDialog | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._changed_meanwhile: dict[str, AgentChanged] | None = None  # changes seen during a reload
        self._select_when_shown: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.addWidget(
            PanelHeader("Agents", "A model, a system prompt and parameters: run tasks with them.")
        )

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search agents…")
        self.search.setClearButtonEnabled(True)
        self.kind = QComboBox()
        self.kind.addItems(AgentsFilter.KINDS)
        self.new_button = QPushButton("New agent")
        self.new_button.setObjectName("primary")
        self.edit_button = QPushButton("Edit…")
        self.run_button = QPushButton("Run task…")
        self.delete_button = QPushButton("Delete…")
        tools = QHBoxLayout()
        tools.addWidget(self.search, 1)
        tools.addWidget(self.kind)
        tools.addSpacing(12)
        for button in (self.run_button, self.edit_button, self.delete_button, self.new_button):
            tools.addWidget(button)
        layout.addLayout(tools)

        self.model = AgentsTableModel()
        self.proxy = AgentsFilter()
        self.proxy.setSourceModel(self.model)
        self.table = row_table(self.proxy)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column in (2, 3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.message = QLabel()
        self.message.setObjectName("cardDetail")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        self.search.textChanged.connect(self.proxy.set_text)
        self.kind.currentTextChanged.connect(self.proxy.set_kind)
        self.new_button.clicked.connect(self.on_new_clicked)
        self.edit_button.clicked.connect(self.on_edit_clicked)
        self.run_button.clicked.connect(self.on_run_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        self.table.doubleClicked.connect(lambda _index: self.on_edit_clicked())
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.proxy.modelReset.connect(self._update_buttons)
        bridge.agent_changed.connect(self.on_agent_changed)
        QShortcut(
            QKeySequence.StandardKey.New,
            self,
            self.on_new_clicked,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence("Ctrl+R"),
            self,
            self.on_run_clicked,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence.StandardKey.Delete,
            self.table,
            self.on_delete_clicked,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        QShortcut(
            QKeySequence.StandardKey.Find,
            self,
            self.search.setFocus,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self._update_buttons()
        self.schedule_refresh()

    # -- data --

    def schedule_refresh(self) -> None:
        """Reload the list in the background (a reload already running is replaced)."""
        self._refreshing = background.restart(self._refreshing, self.refresh(), name="agents-refresh")

    async def refresh(self) -> None:
        """Reload every agent.

        A change that arrives while the list is being read may be missing from that list (read
        before the change was committed): it is kept and applied again after the reload."""
        self._changed_meanwhile = {}
        try:
            agents = await self._backend.agents.list(limit=1000)
        except AgenticError as exc:
            self.message.setText(f"Could not load the agents: {exc}")
            return
        finally:
            changed, self._changed_meanwhile = self._changed_meanwhile, None
        self.model.reset(agents)
        for event in (changed or {}).values():
            self._apply(event)
        self._say_count()

    def _say_count(self) -> None:
        count = self.model.rowCount()
        self.message.setText(
            "No agents yet: create one with New agent (Ctrl+N)."
            if count == 0
            else f"{count} agent{'s' if count != 1 else ''}"
        )

    @Slot(object)
    def on_agent_changed(self, event: AgentChanged) -> None:
        """Keep the table in step with changes made anywhere (window or API)."""
        if self._changed_meanwhile is not None:  # a reload is reading the list right now
            self._changed_meanwhile[event.agent.id] = event
        self._apply(event)
        self._say_count()

    def _apply(self, event: AgentChanged) -> None:
        if event.deleted:
            self.model.remove(event.agent.id)
        else:
            self.model.upsert(event.agent)
            if event.agent.id == self._select_when_shown:
                self._select_when_shown = None
                self.select_agent(event.agent.id)

    def selected_agent(self) -> Agent | None:
        """The agent of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(AGENT_ROLE) if rows else None

    def select_agent(self, agent_id: str) -> None:
        """Select the row of ``agent_id``."""
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(AGENT_ROLE).id == agent_id:
                self.table.selectRow(row)
                return

    @Slot()
    def _update_buttons(self) -> None:
        chosen = self.selected_agent() is not None
        for button in (self.edit_button, self.run_button, self.delete_button):
            button.setEnabled(chosen)

    # -- actions --

    def _taken_names(self) -> set[str]:
        return {agent.name for agent in self.model.agents()}

    @async_slot()
    async def on_new_clicked(self) -> None:
        """Open the create dialog."""
        dialog = AgentDialog(self._backend, self, None, self._taken_names())
        dialog.saved.connect(self._select_created)
        self._open(dialog)
        await dialog.load_models()

    def show_agent(self, agent: Agent) -> None:
        """Select ``agent`` (created elsewhere, e.g. by the chat wizard) once its row is there."""
        self._select_created(agent)

    @Slot(object)
    def _select_created(self, agent: Agent) -> None:
        # The row arrives with the bus event, which may come after the dialog closes.
        if self.model.row_of(agent.id) is None:
            self._select_when_shown = agent.id
        else:
            self.select_agent(agent.id)

    @async_slot()
    async def on_edit_clicked(self) -> None:
        """Open the edit dialog for the selected agent."""
        agent = self.selected_agent()
        if agent is None:
            return
        dialog = AgentDialog(self._backend, self, agent, self._taken_names())
        self._open(dialog)
        await dialog.load_models()

    @async_slot()
    async def on_run_clicked(self) -> None:
        """Open the run-task dialog for the selected agent."""
        agent = self.selected_agent()
        if agent is None:
            return
        if not agent.is_active:
            self.message.setText(f"Agent '{agent.name}' is inactive: activate it (Edit…) to run tasks.")
            return
        dialog = RunTaskDialog(self._backend, self, agent)
        dialog.started.connect(self.task_started)
        self._open(dialog)

    def _open(self, dialog: AgentDialog | RunTaskDialog) -> None:
        self._dialog = dialog
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    async def confirm(self, title: str, text: str) -> bool:
        """Ask before something destructive (tests answer for the operator)."""
        return await dialogs.confirm(self, title, text, yes_text="Delete")

    @async_slot()
    async def on_delete_clicked(self) -> None:
        """Delete the selected agent after confirmation."""
        agent = self.selected_agent()
        if agent is None:
            return
        text = (
            f"Delete agent '{agent.name}'?\n\nIts tasks and their logs are deleted too, and a task it is "
            "running is cancelled. This cannot be undone."
        )
        if not await self.confirm("Delete agent", text):
            return
        self.delete_button.setEnabled(False)
        try:
            await self._backend.agents.delete(agent.id)
        except AgenticError as exc:
            self.message.setText(f"Could not delete '{agent.name}': {exc}")
        finally:
            self._update_buttons()
