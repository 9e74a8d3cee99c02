"""Security: health, open incidents, the level in force and current use; the incidents table (filtered,
live, paged), resolving with notes, the level's limits and one agent's report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background, dialogs
from agentic_desktop.background import async_slot
from agentic_desktop.panels.secrets import window_actor
from agentic_desktop.panels.security_dialogs import ResolveDialog
from agentic_desktop.panels.security_table import (
    INCIDENT_ROLE,
    SEVERITIES,
    VIOLATIONS,
    IncidentsTableModel,
    type_label,
)
from agentic_desktop.panels.security_views import AgentReportView, LimitsView, StatusCards
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.list_table import row_table
from server.config_file import ConfigFileError
from server.services.errors import AgenticError, NotFound

if TYPE_CHECKING:
    import asyncio

    from PySide6.QtGui import QShowEvent

    from agentic_desktop.bridge import BusBridge
    from agentic_desktop.notifications import NotificationCentre
    from server.backend import Backend
    from server.events import IncidentChanged
    from server.services.agents import Agent
    from server.services.security import Incident

PAGE = 200
STATUS_FILTERS = (("Open and resolved", None), ("Open", False), ("Resolved", True))


class SecurityPanel(QWidget):
    """What the security checks recorded, what the level allows, and the operator's answers."""

    def __init__(
        self, backend: Backend, bridge: BusBridge, notifications: NotificationCentre | None = None
    ) -> None:
        super().__init__()
        self._backend = backend
        self._notifications = notifications
        self._who = window_actor().who
        self._agents: dict[str, Agent] = {}
        self._total = 0
        self._page_loading = False
        self._generation = 0
        self._arrived: list[Incident] = []
        self._report_agent: str | None = None
        self._dialog: ResolveDialog | None = None
        self._loading: asyncio.Task[None] | None = None
        self._loading_more: asyncio.Task[None] | None = None
        self._counting: asyncio.Task[None] | None = None
        self._loading_agents: asyncio.Task[None] | None = None
        self._reporting: asyncio.Task[None] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 16)
        layout.setSpacing(10)
        layout.addWidget(
            PanelHeader(
                "Security",
                "What the limits, rate limits and input checks recorded, and the level they enforce.",
            )
        )
        self.cards = StatusCards()
        self.level_combo = self.cards.level_combo
        layout.addWidget(self.cards)
        layout.addLayout(self._build_toolbar())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_table())
        splitter.addWidget(self._build_tabs())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([1000, 190])  # the table gets what the window gives beyond the tabs
        layout.addWidget(splitter, 1)
        self.message = QLabel()
        self.message.setObjectName("cardDetail")
        self.message.setWordWrap(True)
        self.message.hide()
        layout.addWidget(self.message)

        for combo in (self.severity_filter, self.status_filter, self.type_filter):
            combo.currentIndexChanged.connect(self.on_filter_changed)
        self.level_combo.currentIndexChanged.connect(self.on_level_chosen)
        self.resolve_button.clicked.connect(self.on_resolve_clicked)
        self.more_button.clicked.connect(self.on_more_clicked)
        self.notifications_button.clicked.connect(self.on_notifications_clicked)
        self.table.doubleClicked.connect(lambda _index: self.on_resolve_clicked())
        self.table.selectionModel().selectionChanged.connect(self.on_selection_changed)
        self.model.modelReset.connect(self._update_buttons)
        self.report.agent_combo.currentIndexChanged.connect(self.on_report_agent_chosen)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            QShortcut(
                QKeySequence(key),
                self.table,
                self.on_resolve_clicked,
                context=Qt.ShortcutContext.WidgetShortcut,
            )
        QShortcut(
            QKeySequence(Qt.Key.Key_F5),
            self,
            self.reload,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        bridge.incident_changed.connect(self.on_incident_changed)
        bridge.security_level_changed.connect(self.on_security_level_changed)
        bridge.agent_changed.connect(self.on_agent_changed)
        bridge.metrics_sampled.connect(self.on_usage_may_have_changed)
        bridge.task_changed.connect(self.on_usage_may_have_changed)

        self.show_level()
        self._update_buttons()
        self.reload()

    # -- building --

    def _build_toolbar(self) -> QHBoxLayout:
        self.severity_filter = QComboBox()
        self.severity_filter.addItem("All severities", None)
        for severity in SEVERITIES:
            self.severity_filter.addItem(severity.capitalize(), severity)
        self.status_filter = QComboBox()
        for label, resolved in STATUS_FILTERS:
            self.status_filter.addItem(label, resolved)
        self.type_filter = QComboBox()
        self.type_filter.addItem("All types", None)
        for violation in VIOLATIONS:
            self.type_filter.addItem(type_label(violation), violation)
        self.notifications_button = QPushButton("Notifications…")
        self.notifications_button.setToolTip("What the app told you this run, muted kinds included")
        self.notifications_button.setVisible(self._notifications is not None)
        self.resolve_button = QPushButton("Resolve…")
        self.resolve_button.setObjectName("primary")
        self.resolve_button.setToolTip("Resolve the selected incident with notes (Enter or double-click)")
        tools = QHBoxLayout()
        tools.setSpacing(8)
        for combo in (self.severity_filter, self.status_filter, self.type_filter):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            tools.addWidget(combo)
        tools.addStretch(1)
        tools.addWidget(self.notifications_button)
        tools.addWidget(self.resolve_button)
        return tools

    def _build_table(self) -> QWidget:
        self.model = IncidentsTableModel()
        self.table = row_table(self.model, "incidentsTable")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.count_label = QLabel()
        self.count_label.setObjectName("cardDetail")
        self.more_button = QPushButton(f"Load {PAGE} more")
        self.more_button.setToolTip("Older incidents that match the filters")
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 0, 0)
        footer.addWidget(self.count_label, 1)
        footer.addWidget(self.more_button)
        box = QWidget()
        box_layout = QVBoxLayout(box)
        box_layout.setContentsMargins(0, 0, 0, 4)
        box_layout.setSpacing(6)
        box_layout.addWidget(self.table, 1)
        box_layout.addLayout(footer)
        return box

    def _build_tabs(self) -> QTabWidget:
        self.report = AgentReportView()
        self.limits_view = LimitsView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.report, "Agent report")
        self.tabs.addTab(self.limits_view, "Limits")
        return self.tabs

    # -- what tests and the window use --

    def selected_incident(self) -> Incident | None:
        """The incident of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(INCIDENT_ROLE) if rows else None

    def select_incident(self, incident_id: str) -> None:
        """Select the row of ``incident_id``."""
        row = self.model.row_of(incident_id)
        if row is not None:
            self.table.selectRow(row)

    @property
    def total(self) -> int:
        """How many incidents match the filters, shown or not."""
        return self._total

    # -- loading --

    def reload(self) -> None:
        """Load everything again: agents, the first page, the cards, the report shown."""
        self.schedule_agents()
        self.schedule_refresh()
        self.schedule_cards()
        if self._report_agent is not None:
            self.schedule_report(self._report_agent)

    def _filters(self) -> dict[str, Any]:
        return {
            "severity": self.severity_filter.currentData(),
            "resolved": self.status_filter.currentData(),
            "violation_type": self.type_filter.currentData(),
        }

    def _matches(self, incident: Incident) -> bool:
        wanted = self._filters()
        return (
            wanted["severity"] in (None, incident.severity)
            and wanted["resolved"] in (None, incident.resolved)
            and wanted["violation_type"] in (None, incident.violation_type)
        )

    def schedule_refresh(self) -> None:
        """Load the first page for the filters (a load already running is replaced)."""
        if self._loading_more is not None:
            self._loading_more.cancel()
        self._loading = background.restart(self._loading, self.refresh(), name="security-refresh")

    async def refresh(self) -> None:
        """Show the newest incidents that match the filters."""
        filters = self._filters()
        self._generation += 1
        generation = self._generation
        self._arrived = []
        self._page_loading = True
        try:
            try:
                page = await self._backend.security.incidents(limit=PAGE, **filters)
            except AgenticError as exc:
                self._say(f"Could not load the incidents: {exc}")
                return
            selected = self.selected_incident()
            arrived, self._arrived = self._arrived, []
            self.model.reset(page.incidents)
            self._total = page.total_count
            for incident in arrived:  # events that came while the page was read
                self._apply(incident)
            if selected is not None:
                self.select_incident(selected.id)
            self._say("")
        finally:
            if generation == self._generation:  # a replaced load must not end its successor's
                self._page_loading = False
                self._show_count()

    @Slot()
    def on_more_clicked(self) -> None:
        """Append the next older page."""
        self._loading_more = background.restart(self._loading_more, self._load_more(), name="security-more")

    async def _load_more(self) -> None:
        filters = self._filters()
        self.more_button.setEnabled(False)
        try:
            page = await self._backend.security.incidents(limit=PAGE, offset=self.model.rowCount(), **filters)
        except AgenticError as exc:
            self._say(f"Could not load more incidents: {exc}")
        else:
            if filters == self._filters():
                self.model.extend(page.incidents)
                self._total = max(page.total_count, self.model.rowCount())
        finally:
            self._show_count()

    def schedule_cards(self) -> None:
        """Recount health and open incidents."""
        self._counting = background.restart(self._counting, self.refresh_cards(), name="security-cards")

    async def refresh_cards(self) -> None:
        """Health and open incidents by severity."""
        security = self._backend.security
        try:
            health = await security.health()
            open_by_severity = {
                severity: (await security.incidents(resolved=False, severity=severity, limit=1)).total_count
                for severity in SEVERITIES
            }
        except AgenticError as exc:
            self.cards.show_counts_failed(str(exc))
            return
        self.cards.show_counts(health, open_by_severity)

    def schedule_agents(self) -> None:
        """Reload the agent names (for the table and the report chooser)."""
        self._loading_agents = background.restart(
            self._loading_agents, self.refresh_agents(), name="security-agents"
        )

    async def refresh_agents(self) -> None:
        """Name agents in the table and list them in the report's chooser."""
        try:
            agents = await self._backend.agents.list(limit=1000)
        except AgenticError as exc:
            self._say(f"Could not load the agents: {exc}")
            return
        self._agents = {agent.id: agent for agent in agents}
        self.model.set_agent_names({agent.id: agent.name for agent in agents})
        combo = self.report.agent_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            for agent in sorted(agents, key=lambda agent: agent.name.lower()):
                combo.addItem(agent.name if agent.is_active else f"{agent.name} (disabled)", agent.id)
            combo.setCurrentIndex(combo.findData(self._report_agent) if self._report_agent else -1)
        finally:
            combo.blockSignals(False)

    def schedule_report(self, agent_id: str) -> None:
        """Show ``agent_id``'s report."""
        self._report_agent = agent_id
        self._reporting = background.restart(
            self._reporting, self.load_report(agent_id), name="security-report"
        )

    async def load_report(self, agent_id: str) -> None:
        """Read and show one agent's report."""
        try:
            report = await self._backend.security.agent_report(agent_id)
        except NotFound:
            self.report.show_message(
                f"Agent {agent_id} no longer exists; its incidents stay listed in the table."
            )
            return
        except AgenticError as exc:
            self.report.show_message(f"Could not load the agent's report: {exc}")
            return
        if agent_id == self._report_agent:
            self.report.show_report(report)

    # -- bus signals --

    @Slot(object)
    def on_incident_changed(self, event: IncidentChanged) -> None:
        """A new or resolved incident: update its row in place (or add it at the top) and recount."""
        incident = event.incident
        if self._page_loading:
            self._arrived.append(incident)
        else:
            self._apply(incident)
            self._show_count()
        self.schedule_cards()
        if incident.agent_id is not None and incident.agent_id == self._report_agent:
            self.schedule_report(incident.agent_id)

    def _apply(self, incident: Incident) -> None:
        matches = self._matches(incident)
        # A resolution moves an incident between the Open and Resolved filters.
        matched_before = incident.resolved and self._matches(incident.model_copy(update={"resolved": False}))
        if self.model.row_of(incident.id) is not None:
            if matches:
                self.model.replace(incident)
            else:
                self.model.remove(incident.id)
                self._total -= 1
        elif matches and not matched_before:
            newest = self.model.newest()
            if newest is not None and not incident.resolved and incident.timestamp <= newest.timestamp:
                # Not newer than the top row, so it was stored before the page was read: its event
                # comes late, and the page's total already counts it.
                return
            self._total += 1
            self.model.place(incident, complete=self.model.rowCount() >= self._total - 1)
        elif matched_before and not matches:
            self._total -= 1  # it was among the older ones not loaded yet
        self._update_buttons()

    @Slot(object)
    def on_security_level_changed(self, _event: object) -> None:
        """The level was switched (here or through the API)."""
        self.show_level()

    @Slot(object)
    def on_agent_changed(self, _event: object) -> None:
        """Agents came, went or were renamed."""
        self.schedule_agents()

    @Slot(object)
    def on_usage_may_have_changed(self, _event: object = None) -> None:
        """A sample or a task change: show current use while the panel is on screen."""
        if self.isVisible():
            self.show_usage()

    def showEvent(self, event: QShowEvent) -> None:
        """Catch up on current use, which is not followed while hidden."""
        super().showEvent(event)
        self.show_usage()

    # -- showing --

    def show_level(self) -> None:
        """The level in force: the chooser, its description, its limits."""
        policy = self._backend.security.policy
        self.cards.show_level(policy.level)
        self.limits_view.show_policy(policy)
        self.tabs.setTabText(self.tabs.indexOf(self.limits_view), f"Limits · {policy.level.capitalize()}")
        self.show_usage()

    def show_usage(self) -> None:
        """Running agents and memory against the level's limits."""
        self.cards.show_usage(self._backend.security.limits())

    def _show_count(self) -> None:
        shown = self.model.rowCount()
        filtered = any(value is not None for value in self._filters().values())
        if self._total == 0:
            text = (
                "No incidents match these filters."
                if filtered
                else "No security incidents recorded. Refused requests, blocked tools, timeouts and "
                "exceeded limits appear here as they happen."
            )
        elif shown >= self._total:
            text = f"{self._total:,} incident{'s' if self._total != 1 else ''}"
        else:
            text = f"Showing the newest {shown:,} of {self._total:,} incidents"
        self.count_label.setText(text)
        self.more_button.setVisible(shown < self._total)
        self.more_button.setEnabled(True)

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    @Slot()
    def _update_buttons(self) -> None:
        incident = self.selected_incident()
        self.resolve_button.setEnabled(incident is not None and not incident.resolved)

    # -- actions --

    @Slot(int)
    def on_filter_changed(self, _index: int) -> None:
        """A filter changed: load the first page again."""
        self.schedule_refresh()

    @Slot()
    def on_selection_changed(self) -> None:
        """Follow the selected incident's agent in the report."""
        self._update_buttons()
        incident = self.selected_incident()
        if incident is None or incident.agent_id is None or incident.agent_id == self._report_agent:
            return
        combo = self.report.agent_combo
        combo.blockSignals(True)
        try:
            combo.setCurrentIndex(combo.findData(incident.agent_id))
        finally:
            combo.blockSignals(False)
        self.schedule_report(incident.agent_id)

    @Slot(int)
    def on_report_agent_chosen(self, _index: int) -> None:
        """The operator chose an agent for the report."""
        agent_id = self.report.agent_combo.currentData()
        if isinstance(agent_id, str):
            self.schedule_report(agent_id)

    @Slot()
    def on_notifications_clicked(self) -> None:
        """Open the notification history."""
        if self._notifications is not None:
            self._notifications.show_history(self.window())

    @Slot()
    def on_resolve_clicked(self) -> None:
        """Open the resolve dialog for the selected open incident."""
        incident = self.selected_incident()
        if incident is None:
            return
        if incident.resolved:
            by = f" by {incident.resolved_by}" if incident.resolved_by else ""
            self._say(f"That incident is already resolved{by}: {incident.resolution_notes or 'no notes'}")
            return
        dialog = ResolveDialog(
            self._backend.security, self, incident, self.model.agent_label(incident), self._who
        )
        dialog.resolved.connect(self._on_resolved)
        dialog.finished.connect(dialog.deleteLater)
        self._dialog = dialog
        dialog.open()

    @Slot(object)
    def _on_resolved(self, incident: Incident) -> None:
        # The IncidentChanged event does the same; this makes the row change the moment the dialog closes.
        if self.model.replace(incident):
            self._update_buttons()
        self._say(f"Resolved {incident.incident_id}.")

    async def confirm(self, title: str, text: str, *, yes_text: str, destructive: bool = True) -> bool:
        """Ask before lowering the level (tests answer for the operator)."""
        return await dialogs.confirm(self, title, text, destructive=destructive, yes_text=yes_text)

    @async_slot(int)
    async def on_level_chosen(self, _index: int) -> None:
        """Switch the level; lenient only after the operator confirms what it gives up."""
        level = self.level_combo.currentData()
        security = self._backend.security
        if not isinstance(level, str) or level == security.policy.level:
            return
        if level == "lenient":
            text = (
                "Switch to the lenient security level?\n\n"
                "Suspicious input (SQL injection, path traversal, script injection) is then only "
                "recorded as an incident, not refused, and the limits are higher. Use it for "
                "development, not for agents that read untrusted input."
            )
            if not await self.confirm("Lower the security level", text, yes_text="Switch to lenient"):
                self.show_level()
                return
        self.level_combo.setEnabled(False)
        try:
            await security.set_level(level, self._who)  # type: ignore[arg-type]
        except (ConfigFileError, OSError) as exc:
            self._say(
                f"Switched to {level} for this run, but could not save it for the next start: {exc}"
                if security.policy.level == level
                else f"Could not switch to {level}: {exc}"
            )
        except (AgenticError, ValueError) as exc:
            self._say(f"Could not switch to {level}: {exc}")
        else:
            self._say(f"Security level is now {level}; saved to config.toml for the next start.")
        finally:
            self.level_combo.setEnabled(True)
            self.show_level()
