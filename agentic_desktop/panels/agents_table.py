"""The item model behind the Agents table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from agentic_desktop.widgets.list_table import Index, ListTableModel

if TYPE_CHECKING:
    from server.services.agents import Agent

COLUMNS = ("Name", "Model / type", "Status", "Temperature", "Created")
AGENT_ROLE = Qt.ItemDataRole.UserRole + 1


class AgentsTableModel(ListTableModel["Agent"]):
    """Agents, one per row, kept in step with ``AgentChanged`` events."""

    COLUMNS = COLUMNS

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        agent = self._rows[index.row()]
        column = index.column()
        if role == AGENT_ROLE:
            return agent
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return agent.name
            if column == 1:
                return agent.model_name or f"{agent.agent_type} (dynamic)"
            if column == 2:
                return "Active" if agent.is_active else "Inactive"
            if column == 3:
                temperature = agent.config.get("temperature")
                return f"{temperature:.2f}" if isinstance(temperature, int | float) else "—"
            return agent.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            return QColor("#1f9d55") if agent.is_active else QColor("#8a93a6")
        if role == Qt.ItemDataRole.ToolTipRole:
            return agent.description or agent.name
        return None

    def agent_at(self, row: int) -> Agent:
        return self._rows[row]

    def row_of(self, agent_id: str) -> int | None:
        return next((row for row, agent in enumerate(self._rows) if agent.id == agent_id), None)

    def agents(self) -> list[Agent]:
        return list(self._rows)

    def upsert(self, agent: Agent) -> None:
        """Add a new agent at the top, or update the row of a known one."""
        for row, known in enumerate(self._rows):
            if known.id == agent.id:
                self._rows[row] = agent
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, agent)
        self.endInsertRows()

    def remove(self, agent_id: str) -> None:
        """Drop the row of a deleted agent."""
        for row, known in enumerate(self._rows):
            if known.id == agent_id:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
                return


class AgentsFilter(QSortFilterProxyModel):
    """Search text (name or description) and a kind filter over the agents."""

    KINDS = ("All agents", "Active", "Inactive", "Static", "Dynamic")

    def __init__(self) -> None:
        super().__init__()
        self._text = ""
        self._kind = "All agents"

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange()

    def set_kind(self, kind: str) -> None:
        self.beginFilterChange()
        self._kind = kind
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, AgentsTableModel)
        agent = model.agent_at(source_row)
        if self._text and self._text not in f"{agent.name}\n{agent.description}".lower():
            return False
        return {
            "Active": agent.is_active,
            "Inactive": not agent.is_active,
            "Static": agent.agent_type is None,
            "Dynamic": agent.agent_type is not None,
        }.get(self._kind, True)
