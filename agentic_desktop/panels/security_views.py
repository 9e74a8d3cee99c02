"""The Security panel's parts: the cards on top (health, open incidents, level, current use), and the
lower tabs (one agent's report, the limits of the level in force)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop.format import duration
from agentic_desktop.panels.security_table import RESOLVED, SEVERITY_COLOURS, short_when, type_label
from agentic_desktop.widgets.card import Card

if TYPE_CHECKING:
    from server.services.security_policy import Policy

LEVELS = (("strict", "Strict"), ("moderate", "Moderate"), ("lenient", "Lenient"))
LEVEL_DETAIL = {
    "strict": "Tighter limits, more tool types blocked; suspicious input is refused",
    "moderate": "The standard limits; suspicious input is refused",
    "lenient": "Higher limits; suspicious input is only recorded, not refused",
}
HEALTH_STATE = {"healthy": "ok", "warning": "warn", "critical": "bad"}
# Until app.qss has it: the amber of a health warning.
CARDS_STYLE = 'QLabel#cardValue[state="warn"] { color: #b7791f; }'
# How the limits read to an operator; a field not named here gets a label made from its name.
LABELS = {
    "max_concurrent_agents": "Concurrent agents",
    "max_execution_time": "Time per task",
    "max_pipeline_time": "Time per pipeline",
    "max_step_time": "Time per step",
    "max_agent_memory_mb": "Memory per agent",
    "max_memory_mb": "Memory, all agents",
    "max_data_model_memory_mb": "Memory per data model",
    "max_table_rows": "Rows per table",
    "max_concurrent_queries": "Concurrent queries",
    "max_query_time": "Time per query",
    "max_external_requests_per_hour": "External requests",
    "max_request_size_bytes": "Request size",
    "max_gpu_memory_mb": "GPU memory",
    "max_concurrent_gpu_tasks": "Concurrent GPU tasks",
    "max_data_models": "Data models",
    "max_fields_per_model": "Fields per model",
    "max_pipeline_steps": "Pipeline steps",
    "max_tools": "Tools",
    "max_nesting_depth": "Nesting depth",
    "max_field_name_length": "Field name length",
    "tool_execution_per_hour": "Tool runs (per tool)",
    "agent_creation_per_hour": "New agents",
    "external_requests_per_hour": "External requests",
    "api_requests_per_minute": "Other API calls",
}


def megabytes(value: float) -> str:
    """``512 MB``, ``8 GB`` or ``1.5 GB``."""
    if value < 1024:
        return f"{value:,.0f} MB"
    gigabytes = value / 1024
    return f"{gigabytes:,.0f} GB" if gigabytes == int(gigabytes) else f"{gigabytes:,.1f} GB"


def seconds(value: int) -> str:
    """``30 min``, ``1 h`` or ``90 s``: limits are round numbers."""
    if value and value % 3600 == 0:
        return f"{value // 3600} h"
    if value and value % 60 == 0:
        return f"{value // 60} min"
    return f"{value} s"


def limit_text(name: str, value: Any) -> str:
    """One limit's value with its unit, from the field's name."""
    if name.endswith("_time"):
        return seconds(int(value))
    if name.endswith("_mb"):
        return megabytes(float(value))
    if name.endswith("_bytes"):
        return megabytes(float(value) / 1024**2)
    if name.endswith("_per_hour"):
        return f"{value:,} / hour"
    if name.endswith("_per_minute"):
        return f"{value:,} / minute"
    return f"{value:,}"


def limit_label(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    words = name.removeprefix("max_").replace("_", " ")
    return words[:1].upper() + words[1:]


def _title(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("cardTitle")
    return label


def _detail(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("cardDetail")
    label.setWordWrap(True)
    return label


class StatusCards(QWidget):
    """Health, open incidents, the level chooser and current use, side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.setStyleSheet(CARDS_STYLE)
        self.health_card = Card("Health")
        self.open_card = Card("Open incidents")
        self.level_card = Card("Security level")
        self.level_combo = QComboBox()
        for level, label in LEVELS:
            self.level_combo.addItem(label, level)
        self.level_combo.setToolTip("Applies at once and is saved to config.toml for the next start")
        self.level_card.value.hide()
        card_layout = self.level_card.layout()
        assert isinstance(card_layout, QVBoxLayout)
        card_layout.insertWidget(2, self.level_combo)
        self.usage_card = Card("Current use")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(12)
        for card in (self.health_card, self.open_card, self.level_card, self.usage_card):
            row.addWidget(card, 1)

    def show_counts(self, health: dict[str, Any], open_by_severity: dict[str, int]) -> None:
        """Health from ``SecurityService.health`` and the open incidents by severity."""
        status = str(health["status"])
        self.health_card.set_value(status.capitalize(), HEALTH_STATE.get(status, "unknown"))
        self.health_card.set_detail(str(health["message"]))
        total_open = sum(open_by_severity.values())
        recorded = int(health["metrics"]["total_incidents"])
        serious = open_by_severity.get("critical", 0) + open_by_severity.get("high", 0)
        self.open_card.set_value(f"{total_open:,}", "bad" if serious else "ok" if not total_open else None)
        parts = [f"{count} {severity}" for severity, count in open_by_severity.items() if count]
        self.open_card.set_detail(" · ".join(parts) if parts else f"Nothing open of {recorded:,} recorded")
        self.open_card.setToolTip(f"{recorded:,} incidents recorded in all, open and resolved")

    def show_counts_failed(self, reason: str) -> None:
        """Say that the incidents could not be counted."""
        self.health_card.set_value("Unknown", "unknown")
        self.health_card.set_detail(f"Could not read the incidents: {reason}")

    def show_level(self, level: str) -> None:
        """Choose ``level`` in the chooser (without it asking to switch) and describe it."""
        self.level_combo.blockSignals(True)
        try:
            self.level_combo.setCurrentIndex(self.level_combo.findData(level))
        finally:
            self.level_combo.blockSignals(False)
        self.level_card.set_detail(LEVEL_DETAIL.get(level, ""))

    def show_usage(self, limits: dict[str, Any]) -> None:
        """Running agents and memory against the level's limits (``SecurityService.limits``)."""
        agents, memory = limits["concurrent_agents"], limits["memory_usage"]
        full = agents["current"] >= agents["max"]
        self.usage_card.set_value(f"{agents['current']} / {agents['max']} agents", "bad" if full else None)
        self.usage_card.set_detail(
            f"Memory {megabytes(memory['current_mb'])} of {megabytes(memory['max_mb'])} (this process)"
        )


class LimitsView(QScrollArea):
    """Every limit of one security level, in three columns."""

    def __init__(self) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.values: dict[str, QLabel] = {}
        self._body: QWidget | None = None

    def show_policy(self, policy: Policy) -> None:
        """Show ``policy``'s limits (rebuilt: a level switch changes every value)."""
        self.values = {}
        body = QWidget()
        body.setObjectName("limitsBody")
        grid = QGridLayout(body)
        grid.setContentsMargins(12, 10, 12, 10)
        grid.setHorizontalSpacing(28)
        grid.setVerticalSpacing(4)
        resources = self._section("Resource limits", policy.resource_limits.model_dump())
        schema = self._section("Schema limits", policy.schema_limits.model_dump())
        rates = self._section("Rate limits", policy.rate_limits.model_dump())
        middle = QVBoxLayout()
        middle.addLayout(schema)
        middle.addSpacing(10)
        middle.addLayout(rates)
        middle.addStretch(1)

        right = QVBoxLayout()
        right.setSpacing(4)
        right.addWidget(_title("Suspicious input"))
        self.input_label = _detail(
            "Refused (400) and recorded"
            if policy.block_malicious_input
            else "Only recorded as an incident, not refused"
        )
        right.addWidget(self.input_label)
        right.addSpacing(10)
        right.addWidget(_title("Allowed domains"))
        self.domains_label = _detail(", ".join(policy.allowed_domains) or "none")
        self.domains_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self.domains_label)
        right.addSpacing(10)
        right.addWidget(_title("Blocked tool types"))
        self.blocked_label = _detail(", ".join(policy.blocked_tool_types) or "none")
        right.addWidget(self.blocked_label)
        right.addStretch(1)

        grid.addLayout(resources, 0, 0)
        grid.addLayout(middle, 0, 1)
        grid.addLayout(right, 0, 2)
        for column in range(3):
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(1, 1)
        self.setWidget(body)
        self.setStyleSheet("QScrollArea, QWidget#limitsBody { background: #ffffff; }")

    def _section(self, title: str, limits: dict[str, Any]) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(4)
        column.addWidget(_title(title))
        form = QFormLayout()
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(2)
        for name, value in limits.items():
            label = QLabel(limit_text(name, value))
            label.setStyleSheet("font-weight: 600;")
            self.values[name] = label
            form.addRow(_detail(limit_label(name)), label)
        column.addLayout(form)
        return column


class AgentReportView(QWidget):
    """An agent's resource use over its tasks, whether it is in good standing, and its incidents."""

    COLUMNS = ("Time", "Severity", "Type", "Description", "Status")

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("agentReport")
        self.agent_combo = QComboBox()
        self.agent_combo.setMinimumWidth(220)
        self.agent_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.agent_combo.setPlaceholderText("Choose an agent")
        self.state = QLabel()
        self.state.setTextFormat(Qt.TextFormat.RichText)
        self.state.setWordWrap(True)
        top = QHBoxLayout()
        label = QLabel("Agent")
        label.setBuddy(self.agent_combo)
        top.addWidget(label)
        top.addWidget(self.agent_combo)
        top.addSpacing(12)
        top.addWidget(self.state, 1)

        # Its figures in a 2 × 2 block on the left, its incidents beside them: the tab is short.
        self.figures: dict[str, QLabel] = {}
        figures = QGridLayout()
        figures.setHorizontalSpacing(24)
        figures.setVerticalSpacing(8)
        for number, (key, title) in enumerate(
            (
                ("memory_peak_mb", "Peak memory"),
                ("cpu_time_seconds", "CPU time"),
                ("execution_time", "Run time"),
                ("tasks", "Tasks"),
            )
        ):
            column = QVBoxLayout()
            column.setSpacing(0)
            column.addWidget(_title(title))
            value = QLabel("—")
            value.setStyleSheet("font-size: 12pt; font-weight: 600; color: #1d2230;")
            self.figures[key] = value
            column.addWidget(value)
            figures.addLayout(column, number // 2, number % 2)
        figures.setRowStretch(2, 1)

        self.incidents = QTableWidget(0, len(self.COLUMNS))
        self.incidents.setHorizontalHeaderLabels(self.COLUMNS)
        self.incidents.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.incidents.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.incidents.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.incidents.setWordWrap(False)
        self.incidents.verticalHeader().hide()
        self.incidents.setAlternatingRowColors(True)
        header = self.incidents.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

        report = QWidget()
        report_layout = QHBoxLayout(report)
        report_layout.setContentsMargins(0, 4, 0, 0)
        report_layout.setSpacing(18)
        report_layout.addLayout(figures)
        report_layout.addWidget(self.incidents, 1)
        self.message = _detail("Select an incident that names an agent, or choose an agent here.")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.message)
        self.stack.addWidget(report)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)

    def show_message(self, text: str) -> None:
        """Say why there is no report (none chosen, agent gone, failed to load)."""
        self.state.setText("")
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def show_report(self, report: dict[str, Any]) -> None:
        """Show a report from ``SecurityService.agent_report``."""
        usage = report["resource_usage"]
        self.figures["memory_peak_mb"].setText(megabytes(usage["memory_peak_mb"]))
        self.figures["cpu_time_seconds"].setText(f"{usage['cpu_time_seconds']:.1f} s")
        self.figures["execution_time"].setText(duration(usage["execution_time"]))
        self.figures["tasks"].setText(f"{usage['tasks']:,}")
        incidents = report["incidents"]
        serious = [i for i in incidents if not i["resolved"] and i["severity"] in ("high", "critical")]
        if report["is_secure"]:
            self.state.setText(
                f"<span style='color:{RESOLVED}'>●</span> <b>Secure</b> — active, no open serious incidents"
            )
        else:
            reasons = []
            if not report["is_active"]:
                reasons.append("disabled")
            if serious:
                plural = "s" if len(serious) != 1 else ""
                reasons.append(f"{len(serious)} open high or critical incident{plural}")
            colour = SEVERITY_COLOURS["critical"]
            why = ", ".join(reasons) or "see its incidents"
            self.state.setText(f"<span style='color:{colour}'>●</span> <b>Not secure</b> — {why}")
        self.incidents.setRowCount(len(incidents))
        for row, incident in enumerate(incidents):
            cells = (
                short_when(incident["timestamp"]),
                str(incident["severity"]).capitalize(),
                type_label(incident["type"]),
                " ".join(str(incident["description"]).split()),
                "Resolved" if incident["resolved"] else "Open",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 1:
                    item.setForeground(QColor(SEVERITY_COLOURS.get(incident["severity"], "#8a93a6")))
                if column == 3:
                    item.setToolTip(str(incident["description"]))
                self.incidents.setItem(row, column, item)
        self.stack.setCurrentIndex(1)

    def incident_count(self) -> int:
        """How many incidents the report lists."""
        return self.incidents.rowCount()
