"""The Knowledge panel's sources table, and the words it uses for kinds, schedules and runs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from agentic_desktop.panels.security_table import dot, short_when, when
from agentic_desktop.widgets.list_table import Index, ListTableModel

if TYPE_CHECKING:
    from server.services.ingest import Schedule, Source

COLUMNS = ("Name", "Kind", "Schedule", "Enabled", "Last run", "Result", "Next run")
RESULT_COLUMN = 5
SOURCE_ROLE = Qt.ItemDataRole.UserRole + 1

RESULT_COLOURS = {
    "succeeded": "#1f9d55",
    "partial": "#b7791f",
    "failed": "#d64545",
    "interrupted": "#b7791f",
    "running": "#2f6fde",
}
MUTED = "#8a93a6"


def kind_label(source: Source) -> str:
    """What the operator added: Feed, Page, Folder, Mailbox (or the connector kind)."""
    if source.kind == "web":
        return "Page" if source.config.get("mode") == "page" else "Feed"
    return {"filesystem": "Folder", "communication": "Mailbox"}.get(source.kind, source.kind.capitalize())


def where(source: Source) -> str:
    """The feed's URL, the folder's path or the mailbox's address."""
    config = source.config
    if source.kind == "web":
        return str(config.get("url", ""))
    if source.kind == "filesystem":
        return str(config.get("directory", ""))
    if source.kind == "communication":
        return f"{config.get('username', '')}@{config.get('host', '')}/{config.get('mailbox', 'INBOX')}"
    return ""


def schedule_label(schedule: Schedule | None) -> str:
    """``Manual``, ``every 15 min``, ``every 2 h`` or ``cron */5 * * * *``."""
    if schedule is None:
        return "Manual"
    if schedule.cron:
        return f"cron {schedule.cron}"
    seconds = schedule.interval_seconds or 0
    if seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return f"every {seconds} s"


def run_result(run: dict[str, Any] | None) -> str:
    """``succeeded · 12 new, 1 changed`` or ``failed: why``."""
    if not run:
        return "—"
    status = run.get("status", "?")
    if status == "failed":
        return f"failed: {run.get('error') or 'see the run'}"
    parts = [f"{run.get('new_count', 0)} new", f"{run.get('changed_count', 0)} changed"]
    if run.get("failed_count"):
        parts.append(f"{run['failed_count']} failed")
    return f"{status} · {', '.join(parts)}"


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


class SourcesTableModel(ListTableModel["Source"]):
    """Sources by name; a run's end replaces its row."""

    COLUMNS = COLUMNS

    def sources(self) -> list[Source]:
        return list(self._rows)

    def row_of(self, source_id: str) -> int | None:
        for row, source in enumerate(self._rows):
            if source.id == source_id:
                return row
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        source = self._rows[index.row()]
        column = index.column()
        if role == SOURCE_ROLE:
            return source
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(source, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == RESULT_COLUMN and source.last_run:
                return QColor(RESULT_COLOURS.get(source.last_run.get("status", ""), MUTED))
            if not source.enabled or (column in (4, 6) and self._text(source, column) == "—"):
                return QColor(MUTED)
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == RESULT_COLUMN and source.last_run:
            return dot(RESULT_COLOURS.get(source.last_run.get("status", ""), MUTED))
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == RESULT_COLUMN:
                return run_result(source.last_run)
            return f"{kind_label(source)}: {where(source)}"
        return None

    def _text(self, source: Source, column: int) -> str:
        if column == 0:
            return source.name
        if column == 1:
            return kind_label(source)
        if column == 2:
            return schedule_label(source.schedule)
        if column == 3:
            return "Yes" if source.enabled else "No"
        if column == 4:
            started = _moment((source.last_run or {}).get("started_at"))
            return short_when(started) if started else "—"
        if column == 5:
            return run_result(source.last_run)
        if column == 6:
            if source.next_run_at is None:
                return "—"
            return short_when(source.next_run_at)
        return ""


__all__ = ["COLUMNS", "SOURCE_ROLE", "SourcesTableModel", "kind_label", "run_result", "when", "where"]
