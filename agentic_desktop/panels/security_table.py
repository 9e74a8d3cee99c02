"""The item model behind the Security panel's incidents table: newest first, coloured by severity."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

from agentic_desktop.widgets.list_table import Index, ListTableModel

if TYPE_CHECKING:
    from server.services.security import Incident

COLUMNS = ("Time", "Severity", "Type", "Description", "Agent", "Status")
SEVERITY_COLUMN = 1
STATUS_COLUMN = 5
INCIDENT_ROLE = Qt.ItemDataRole.UserRole + 1

SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_COLOURS = {"critical": "#d64545", "high": "#d64545", "medium": "#b7791f", "low": "#6b7a99"}
# Open critical rows get a faint red wash so they stand out in a long list.
CRITICAL_ROW = "#fdf0f0"
RESOLVED = "#1f9d55"
OPEN = "#3b4357"
MUTED = "#8a93a6"
VIOLATIONS = (
    "MALICIOUS_CONTENT",
    "PERMISSION_DENIED",
    "SCHEMA_VIOLATION",
    "RESOURCE_EXCEEDED",
    "EXECUTION_TIMEOUT",
    "RATE_LIMIT_EXCEEDED",
)


def type_label(violation: str) -> str:
    """``RATE_LIMIT_EXCEEDED`` → ``Rate limit exceeded``."""
    return violation.replace("_", " ").capitalize()


def when(moment: datetime) -> str:
    """Local date and time in full (dialogs and tooltips)."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_when(moment: datetime, today: date | None = None) -> str:
    """``14:02:07`` today, ``26 Nov 14:02`` this year, ``2025-11-26`` before: a narrow Time column."""
    local = moment.astimezone()
    today = today or datetime.now().astimezone().date()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return local.strftime("%d %b %H:%M")
    return local.strftime("%Y-%m-%d")


@cache
def dot(colour: str) -> QIcon:
    """A small filled circle in ``colour``: the severity's mark."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)  # keep the colour on the selected row
    return icon


class IncidentsTableModel(ListTableModel["Incident"]):
    """Incidents newest first; rows are added at the top or updated in place as events arrive."""

    COLUMNS = COLUMNS

    def __init__(self) -> None:
        super().__init__()
        self._agent_names: dict[str, str] = {}

    def agent_label(self, incident: Incident) -> str:
        """The agent's name when known, else its id, else a dash."""
        if incident.agent_id is None:
            return "—"
        return self._agent_names.get(incident.agent_id, incident.agent_id)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        incident = self._rows[index.row()]
        column = index.column()
        if role == INCIDENT_ROLE:
            return incident
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(incident, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == SEVERITY_COLUMN:
                return QColor(SEVERITY_COLOURS.get(incident.severity, MUTED))
            if column == STATUS_COLUMN:
                return QColor(RESOLVED if incident.resolved else OPEN)
            if column == 4 and incident.agent_id is None:
                return QColor(MUTED)
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == SEVERITY_COLUMN:
            return dot(SEVERITY_COLOURS.get(incident.severity, MUTED))
        if role == Qt.ItemDataRole.FontRole and column == SEVERITY_COLUMN:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and incident.severity == "critical":
            return None if incident.resolved else QColor(CRITICAL_ROW)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(incident)
        return None

    def _text(self, incident: Incident, column: int) -> str:
        if column == 0:
            return short_when(incident.timestamp)
        if column == SEVERITY_COLUMN:
            return incident.severity.capitalize()
        if column == 2:
            return type_label(incident.violation_type)
        if column == 3:
            return " ".join(incident.description.split())
        if column == 4:
            return self.agent_label(incident)
        return "Resolved" if incident.resolved else "Open"

    def _tooltip(self, incident: Incident) -> str:
        lines = [
            incident.description,
            f"{when(incident.timestamp)} · {incident.violation_type} · {incident.incident_id}",
        ]
        if incident.agent_type:
            lines.append(f"Agent type: {incident.agent_type}")
        if incident.resolved:
            by = f" by {incident.resolved_by}" if incident.resolved_by else ""
            at = f" at {when(incident.resolved_at)}" if incident.resolved_at else ""
            lines.append(f"Resolved{by}{at}: {incident.resolution_notes or ''}".rstrip(": "))
        return "\n".join(lines)

    # -- changing the rows --

    def extend(self, incidents: list[Incident]) -> int:
        """Append an older page, skipping rows already shown; returns how many were added."""
        shown = {incident.id for incident in self._rows}
        fresh = [incident for incident in incidents if incident.id not in shown]
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            self._rows.extend(fresh)
            self.endInsertRows()
        return len(fresh)

    def place(self, incident: Incident, *, complete: bool) -> bool:
        """Insert ``incident`` where its time puts it (new ones go to the top). Past the last row it is
        only inserted when the table holds every match (``complete``); returns whether it was."""
        row = next(
            (row for row, shown in enumerate(self._rows) if shown.timestamp <= incident.timestamp),
            len(self._rows),
        )
        if row == len(self._rows) and not complete:
            return False
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, incident)
        self.endInsertRows()
        return True

    def replace(self, incident: Incident) -> bool:
        """Show the new state of a row already in the table; False when it is not there."""
        row = self.row_of(incident.id)
        if row is None:
            return False
        self._rows[row] = incident
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        return True

    def remove(self, incident_id: str) -> bool:
        """Drop a row (it no longer matches the filters)."""
        row = self.row_of(incident_id)
        if row is None:
            return False
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self.endRemoveRows()
        return True

    def set_agent_names(self, names: dict[str, str]) -> None:
        """Name agents by id (the Agent column shows ids it has no name for)."""
        self._agent_names = dict(names)
        if self._rows:
            self.dataChanged.emit(self.index(0, 4), self.index(len(self._rows) - 1, 4))

    def newest(self) -> Incident | None:
        """The top row's incident."""
        return self._rows[0] if self._rows else None

    def incidents(self) -> list[Incident]:
        """The rows, top first."""
        return list(self._rows)

    def row_of(self, incident_id: str) -> int | None:
        return next((row for row, incident in enumerate(self._rows) if incident.id == incident_id), None)
