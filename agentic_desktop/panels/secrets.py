"""Secrets: an agent's encrypted secrets (add, edit, reveal, copy, delete) and their audit trail."""

from __future__ import annotations

import getpass
from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QMimeData, Qt, QTimer, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background, dialogs
from agentic_desktop.background import async_slot
from agentic_desktop.panels.secret_dialogs import RevealDialog, SecretDialog
from agentic_desktop.panels.secrets_table import SECRET_ROLE, AuditTableModel, SecretsTableModel
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.list_table import row_table
from server.services.errors import AgenticError, NotFound
from server.services.secrets import Actor

if TYPE_CHECKING:
    import asyncio

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import SecretChanged
    from server.services.agents import Agent
    from server.services.secrets import Secret, SecretsService

CLIPBOARD_CLEAR_MS = 30_000
AUDIT_LIMIT = 100
# Asks clipboard managers that honour it (KDE's Klipper, and others reading the hint) to keep no history.
PASSWORD_HINT = "x-kde-passwordManagerHint"


def window_actor() -> Actor:
    """The operator as the audit trail names them when they act in the window."""
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        who = "operator"
    return Actor(who, "window")


def master_key_text(secrets: SecretsService) -> str:
    """Where the vault's master key lives, in words."""
    location = secrets.store.location
    if secrets.backend == "keyring":
        return f"Master key: in {location}"
    return f"Master key: {location} (0600, owner only) — the OS keyring is not used"


class SecretsPanel(QWidget):
    """Pick an agent, manage its secrets, and see who touched them."""

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._actor = window_actor()
        self._agents: dict[str, Agent] = {}
        self._shown_agent: str | None = None
        self._copied: str | None = None
        self._select_when_shown: str | None = None
        self._dialog: SecretDialog | RevealDialog | None = None
        self._loading_agents: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._auditing: asyncio.Task[None] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(10)
        layout.addWidget(
            PanelHeader(
                "Secrets",
                "API keys and passwords your agents use, encrypted at rest. "
                "Tasks refer to them as {{secret:KEY}}.",
            )
        )
        self.vault_label = QLabel(master_key_text(backend.secrets))
        self.vault_label.setObjectName("cardDetail")
        self.vault_label.setWordWrap(True)
        self.vault_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.vault_label.setToolTip(
            "Back it up together with the data dir: without it the secrets cannot be decrypted."
        )
        layout.addWidget(self.vault_label)
        layout.addLayout(self._build_toolbar())
        layout.addWidget(self._build_secrets(), 3)
        layout.addWidget(self._build_audit(), 2)
        self.message = QLabel()
        self.message.setObjectName("cardDetail")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        self.clipboard_timer = QTimer(self)
        self.clipboard_timer.setSingleShot(True)
        self.clipboard_timer.setInterval(CLIPBOARD_CLEAR_MS)
        self.clipboard_timer.timeout.connect(self.on_clipboard_timeout)

        self.agent_combo.currentIndexChanged.connect(self.on_agent_chosen)
        self.add_button.clicked.connect(self.on_add_clicked)
        self.empty_add_button.clicked.connect(self.on_add_clicked)
        self.edit_button.clicked.connect(self.on_edit_clicked)
        self.reveal_button.clicked.connect(self.on_reveal_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        self.audit_toggle.toggled.connect(self.on_audit_toggled)
        self.table.doubleClicked.connect(lambda _index: self.on_edit_clicked())
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        bridge.agent_changed.connect(self.on_agent_changed)
        bridge.secret_changed.connect(self.on_secret_changed)
        QShortcut(
            QKeySequence.StandardKey.New,
            self,
            self.on_add_clicked,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        QShortcut(
            QKeySequence.StandardKey.Delete,
            self.table,
            self.on_delete_clicked,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        QShortcut(
            QKeySequence(Qt.Key.Key_F5),
            self,
            self.schedule_agents_refresh,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self._show_state()
        self.schedule_agents_refresh()

    # -- building --

    def _build_toolbar(self) -> QHBoxLayout:
        self.agent_combo = QComboBox()
        self.agent_combo.setMinimumWidth(260)
        self.agent_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.agent_combo.setPlaceholderText("No agents")
        self.reveal_button = QPushButton("Reveal…")
        self.reveal_button.setToolTip("Show the selected secret's value (recorded in the audit trail)")
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip("Change the value or the description")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the selected secret (Del)")
        self.add_button = QPushButton("Add secret…")
        self.add_button.setObjectName("primary")
        self.add_button.setToolTip("Add a secret to this agent (Ctrl+N)")
        tools = QHBoxLayout()
        tools.setSpacing(8)
        label = QLabel("Agent")
        label.setBuddy(self.agent_combo)
        tools.addWidget(label)
        tools.addWidget(self.agent_combo)
        tools.addStretch(1)
        for button in (self.reveal_button, self.edit_button, self.delete_button, self.add_button):
            tools.addWidget(button)
        return tools

    def _build_secrets(self) -> QWidget:
        self.model = SecretsTableModel()
        self.table = row_table(self.model, "secretsTable")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

        self.empty = QFrame()
        self.empty.setObjectName("card")
        inner = QVBoxLayout(self.empty)
        inner.setContentsMargins(24, 24, 24, 24)
        inner.addStretch(1)
        self.empty_label = QLabel()
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_add_button = QPushButton("Add secret…")
        self.empty_add_button.setObjectName("primary")
        inner.addWidget(self.empty_label)
        inner.addSpacing(6)
        inner.addWidget(self.empty_add_button, 0, Qt.AlignmentFlag.AlignHCenter)
        inner.addStretch(1)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        return self.stack

    def _build_audit(self) -> QWidget:
        self.audit_model = AuditTableModel()
        self.audit_table = QTableView()
        self.audit_table.setObjectName("auditTable")
        self.audit_table.setModel(self.audit_model)
        self.audit_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.audit_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.audit_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.audit_table.verticalHeader().hide()
        self.audit_table.setAlternatingRowColors(True)
        header = self.audit_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        title = QLabel("AUDIT TRAIL")
        title.setObjectName("cardTitle")
        self.audit_summary = QLabel()
        self.audit_summary.setObjectName("cardDetail")
        self.audit_toggle = QPushButton("Hide")
        self.audit_toggle.setCheckable(True)
        self.audit_toggle.setChecked(True)
        self.audit_toggle.setToolTip("Show or hide the audit trail")
        row = QHBoxLayout()
        row.addWidget(title)
        row.addSpacing(8)
        row.addWidget(self.audit_summary, 1)
        row.addWidget(self.audit_toggle)
        box = QWidget()
        box_layout = QVBoxLayout(box)
        box_layout.setContentsMargins(0, 6, 0, 0)
        box_layout.addLayout(row)
        box_layout.addWidget(self.audit_table, 1)
        self.audit_box = box
        return box

    # -- data --

    def current_agent(self) -> Agent | None:
        """The agent chosen in the drop-down."""
        agent_id = self.agent_combo.currentData()
        return self._agents.get(agent_id) if isinstance(agent_id, str) else None

    def selected_secret(self) -> Secret | None:
        """The secret of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(SECRET_ROLE) if rows else None

    def select_secret(self, secret_id: str) -> None:
        """Select the row of ``secret_id``."""
        row = self.model.row_of(secret_id)
        if row is not None:
            self.table.selectRow(row)

    def schedule_agents_refresh(self) -> None:
        """Reload the agent list, then the chosen agent's secrets if the choice changed."""
        self._loading_agents = background.restart(
            self._loading_agents, self.refresh_agents(), name="secrets-agents-refresh"
        )

    def schedule_refresh(self) -> None:
        """Reload the chosen agent's secrets and audit trail (a reload already running is replaced)."""
        self._refreshing = background.restart(self._refreshing, self.refresh(), name="secrets-refresh")

    def schedule_audit_refresh(self) -> None:
        """Reload only the audit trail (after a reveal nothing else changed)."""
        self._auditing = background.restart(self._auditing, self.refresh_audit(), name="secrets-audit")

    async def refresh_agents(self) -> None:
        """Fill the drop-down, keeping the agent the operator chose when it still exists."""
        try:
            agents = await self._backend.agents.list(limit=1000)
        except AgenticError as exc:
            self.message.setText(f"Could not load the agents: {exc}")
            return
        self._agents = {agent.id: agent for agent in agents}
        wanted = self.agent_combo.currentData()  # the agent on screen stays chosen
        self.agent_combo.blockSignals(True)
        try:
            self.agent_combo.clear()
            for agent in sorted(agents, key=lambda agent: agent.name.lower()):
                label = agent.name if agent.is_active else f"{agent.name} (inactive)"
                self.agent_combo.addItem(label, agent.id)
            index = self.agent_combo.findData(wanted) if isinstance(wanted, str) else -1
            self.agent_combo.setCurrentIndex(index if index >= 0 else 0 if agents else -1)
        finally:
            self.agent_combo.blockSignals(False)
        if self._agent_shown_changed():
            # Loaded here, not in a task of its own: quitting waits for this task, and a task started
            # from it could outlive the window.
            await self.refresh()

    @Slot(int)
    def on_agent_chosen(self, _index: int) -> None:
        """The operator picked another agent: show its secrets."""
        if self._agent_shown_changed():
            self.schedule_refresh()

    def _agent_shown_changed(self) -> bool:
        """Empty the tables when another agent is chosen; True when its secrets need loading."""
        agent = self.current_agent()
        if agent is None or agent.id != self._shown_agent:
            self._shown_agent = None
            self.model.reset([])
            self.audit_model.reset([])
        self._show_state()
        return agent is not None and self._shown_agent is None

    def _still_chosen(self, agent: Agent) -> bool:
        chosen = self.current_agent()
        return chosen is not None and chosen.id == agent.id

    async def refresh(self) -> None:
        """Load the chosen agent's secrets and audit trail."""
        agent = self.current_agent()
        if agent is None:
            return
        try:
            secrets = await self._backend.secrets.list(agent.id)
            audit = await self._backend.secrets.audit(agent.id, limit=AUDIT_LIMIT)
        except NotFound:
            return  # deleted meanwhile: its AgentChanged event reloads the drop-down
        except AgenticError as exc:
            self.message.setText(f"Could not load the secrets of {agent.name}: {exc}")
            return
        if not self._still_chosen(agent):
            return
        selected = self.selected_secret()
        self.model.reset(secrets)
        self.audit_model.reset(audit)
        self._shown_agent = agent.id
        wanted = self._select_when_shown or (selected.id if selected else None)
        if wanted is not None and self.model.row_of(wanted) is not None:
            self._select_when_shown = None
            self.select_secret(wanted)
        self._show_state()

    async def refresh_audit(self) -> None:
        """Load the chosen agent's audit trail."""
        agent = self.current_agent()
        if agent is None:
            return
        try:
            audit = await self._backend.secrets.audit(agent.id, limit=AUDIT_LIMIT)
        except AgenticError as exc:
            self.message.setText(f"Could not load the audit trail of {agent.name}: {exc}")
            return
        if self._still_chosen(agent):
            self.audit_model.reset(audit)
            self._show_audit_summary()

    @Slot(object)
    def on_agent_changed(self, _event: object) -> None:
        """Agents came, went or were renamed: reload the drop-down."""
        self.schedule_agents_refresh()

    @Slot(object)
    def on_secret_changed(self, event: SecretChanged) -> None:
        """Follow changes made anywhere (window, API, tasks) to the agent on screen."""
        agent = self.current_agent()
        if agent is None or event.agent_id != agent.id:
            return
        if event.action == "decrypt":
            self.schedule_audit_refresh()
        else:
            self.schedule_refresh()

    # -- showing --

    def _show_state(self) -> None:
        agent = self.current_agent()
        count = self.model.rowCount()
        loaded = agent is not None and self._shown_agent == agent.id
        if agent is None:
            self.empty_label.setText(
                "No agents yet — create one in Agents (Ctrl+2), then keep its API keys and passwords here."
            )
            self.empty_add_button.hide()
            self.stack.setCurrentWidget(self.empty)
            self.message.setText("")
        elif loaded and count == 0:
            self.empty_label.setText(
                f"No secrets for {escape(agent.name)} — <b>Add secret…</b> to store an API key or password "
                "its tasks can use."
            )
            self.empty_add_button.show()
            self.stack.setCurrentWidget(self.empty)
            self.message.setText("")
        else:
            self.stack.setCurrentWidget(self.table)
            self.message.setText(
                f"{count} secret{'s' if count != 1 else ''} for {agent.name}" if loaded else "Loading…"
            )
        self.agent_combo.setEnabled(bool(self._agents))
        self.audit_box.setVisible(agent is not None)
        self._show_audit_summary()
        self._update_buttons()

    def _show_audit_summary(self) -> None:
        agent = self.current_agent()
        count = self.audit_model.rowCount()
        if agent is None:
            text = ""
        elif count == 0:
            text = f"Nothing recorded for {agent.name} yet"
        else:
            text = f"Every change and reveal of {agent.name}'s secrets, newest first" + (
                f" (last {AUDIT_LIMIT})" if count >= AUDIT_LIMIT else ""
            )
        self.audit_summary.setText(text)

    @Slot()
    def _update_buttons(self) -> None:
        self.add_button.setEnabled(self.current_agent() is not None)
        chosen = self.selected_secret() is not None
        for button in (self.reveal_button, self.edit_button, self.delete_button):
            button.setEnabled(chosen)

    @Slot(bool)
    def on_audit_toggled(self, shown: bool) -> None:
        """Show or hide the audit trail's table (its title row stays)."""
        self.audit_table.setVisible(shown)
        self.audit_toggle.setText("Hide" if shown else "Show")
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.setStretchFactor(self.audit_box, 2 if shown else 0)

    # -- actions --

    def _open(self, dialog: SecretDialog | RevealDialog) -> None:
        self._dialog = dialog
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    @Slot()
    def on_add_clicked(self) -> None:
        """Open the add dialog for the chosen agent."""
        agent = self.current_agent()
        if agent is None:
            self.message.setText("Create an agent in Agents first: secrets belong to an agent.")
            return
        taken = {secret.secret_key for secret in self.model.secrets()}
        dialog = SecretDialog(self._backend.secrets, self, agent, None, taken, self._actor)
        dialog.saved.connect(self._on_saved)
        self._open(dialog)

    @Slot()
    def on_edit_clicked(self) -> None:
        """Open the edit dialog for the selected secret."""
        agent, secret = self.current_agent(), self.selected_secret()
        if agent is None or secret is None:
            return
        dialog = SecretDialog(self._backend.secrets, self, agent, secret, set(), self._actor)
        dialog.saved.connect(self._on_saved)
        self._open(dialog)

    @Slot(object)
    def _on_saved(self, secret: Secret) -> None:
        # The row arrives with the SecretChanged reload, which may finish after the dialog closes.
        if self.model.row_of(secret.id) is None:
            self._select_when_shown = secret.id
        else:
            self.select_secret(secret.id)

    async def confirm(self, title: str, text: str, *, yes_text: str, destructive: bool = True) -> bool:
        """Ask before a reveal or a delete (tests answer for the operator)."""
        return await dialogs.confirm(self, title, text, destructive=destructive, yes_text=yes_text)

    @async_slot()
    async def on_reveal_clicked(self) -> None:
        """Decrypt the selected secret after confirmation and show it with a Copy button."""
        agent, secret = self.current_agent(), self.selected_secret()
        if agent is None or secret is None:
            return
        text = (
            f"Show the value of '{secret.secret_key}' ({agent.name})?\n\n"
            f"This is recorded in the audit trail as a reveal by {self._actor.who}."
        )
        if not await self.confirm("Reveal secret", text, yes_text="Reveal", destructive=False):
            return
        self.reveal_button.setEnabled(False)
        try:
            detail = await self._backend.secrets.get(agent.id, secret.id, decrypt=True, actor=self._actor)
        except AgenticError as exc:
            self.message.setText(f"Could not reveal '{secret.secret_key}': {exc}")
            return
        finally:
            self._update_buttons()
        dialog = RevealDialog(self, agent, secret.secret_key, detail.decrypted_value or "")
        dialog.copy_requested.connect(self.copy_to_clipboard)
        dialog.copy_requested.connect(lambda _value: dialog.note.setText(self.message.text()))
        self._open(dialog)

    @async_slot()
    async def on_delete_clicked(self) -> None:
        """Delete the selected secret after confirmation."""
        agent, secret = self.current_agent(), self.selected_secret()
        if agent is None or secret is None:
            return
        text = (
            f"Delete the secret '{secret.secret_key}' of {agent.name}?\n\n"
            f"Tasks that use {{{{secret:{secret.secret_key}}}}} fail until it is added again. "
            "The audit trail keeps its history."
        )
        if not await self.confirm("Delete secret", text, yes_text="Delete"):
            return
        self.delete_button.setEnabled(False)
        try:
            await self._backend.secrets.delete(agent.id, secret.id, self._actor)
        except AgenticError as exc:
            self.message.setText(f"Could not delete '{secret.secret_key}': {exc}")
        finally:
            self._update_buttons()

    # -- clipboard --

    @Slot(str)
    def copy_to_clipboard(self, value: str) -> None:
        """Put ``value`` on the clipboard and clear it again after 30 s (if it is still there)."""
        data = QMimeData()
        data.setText(value)
        data.setData(PASSWORD_HINT, QByteArray(b"secret"))
        QGuiApplication.clipboard().setMimeData(data)
        self._copied = value
        self.clipboard_timer.start()
        seconds = self.clipboard_timer.interval() // 1000
        self.message.setText(f"Copied — the clipboard is cleared in {seconds} s")

    @Slot()
    def on_clipboard_timeout(self) -> None:
        """Clear the clipboard unless something else was copied since."""
        clipboard = QGuiApplication.clipboard()
        if self._copied is not None and clipboard.text() == self._copied:
            clipboard.clear()
            self.message.setText("The copied secret was cleared from the clipboard")
        self._copied = None
