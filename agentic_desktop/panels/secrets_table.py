"""The item models behind the Secrets panel: an agent's secrets (never their values) and its audit trail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from agentic_desktop.widgets.list_table import Index, ListTableModel

if TYPE_CHECKING:
    from datetime import datetime

    from server.services.secrets import AuditEntry, Secret

SECRET_ROLE = Qt.ItemDataRole.UserRole + 1

# What each audit action means to the operator, and the colour that makes it stand out.
ACTIONS = {
    "create": ("Created", "#1f9d55"),
    "update": ("Changed", "#3b4357"),
    "delete": ("Deleted", "#d64545"),
    "decrypt": ("Revealed", "#b7791f"),
    "rotate": ("Key rotated", "#3b4357"),
}
VIA = {"window": "Window", "api": "API", "task": "Task", "cli": "Command line"}


def when(moment: datetime, *, seconds: bool = False) -> str:
    """Local time as the tables show it."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


class SecretsTableModel(ListTableModel[Any]):
    """An agent's active secrets by key. The model never holds a value: ``Secret`` has none."""

    COLUMNS = ("Key", "Description", "Created", "Updated")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        secret: Secret = self._rows[index.row()]
        column = index.column()
        if role == SECRET_ROLE:
            return secret
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return secret.secret_key
            if column == 1:
                return secret.description or "—"
            if column == 2:
                return when(secret.created_at)
            return when(secret.updated_at)
        if role == Qt.ItemDataRole.ForegroundRole and column == 1 and not secret.description:
            return QColor("#8a93a6")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Tasks use it as {{{{secret:{secret.secret_key}}}}}"
        return None

    def secrets(self) -> list[Secret]:
        return list(self._rows)

    def row_of(self, secret_id: str) -> int | None:
        return next((row for row, secret in enumerate(self._rows) if secret.id == secret_id), None)


class AuditTableModel(ListTableModel[Any]):
    """The audit trail of one agent's secrets, newest first."""

    COLUMNS = ("Time", "Action", "Key", "Who", "Via")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry: AuditEntry = self._rows[index.row()]
        column = index.column()
        label, colour = ACTIONS.get(entry.action, (entry.action, "#3b4357"))
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                when(entry.at, seconds=True),
                label,
                entry.secret_key or "—",
                entry.actor,
                VIA.get(entry.via, entry.via),
            )[column]
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return QColor(colour)
        return None

    def entries(self) -> list[AuditEntry]:
        return list(self._rows)
