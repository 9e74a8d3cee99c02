"""The item model behind the task list, and the delegate that draws its progress bars."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from agentic_desktop.format import duration
from agentic_desktop.widgets.list_table import Index, ListTableModel
from server.bus import utcnow

if TYPE_CHECKING:
    from server.services.tasks import Task

COLUMNS = ("Status", "Agent", "Type", "Progress", "Created", "Duration")
PROGRESS_COLUMN = 3
TASK_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLOURS = {
    "pending": "#8a93a6",
    "running": "#2f6fed",
    "completed": "#1f9d55",
    "failed": "#d64545",
    "cancelled": "#b7791f",
}


class TasksTableModel(ListTableModel["Task"]):
    """Tasks, newest first, with live status and progress."""

    COLUMNS = COLUMNS

    def __init__(self) -> None:
        super().__init__()
        self._agent_names: dict[str, str] = {}

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        task = self._rows[index.row()]
        column = index.column()
        if role == TASK_ROLE:
            return task
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return task.status.capitalize()
            if column == 1:
                return self._agent_names.get(task.agent_id, task.agent_id[:8])
            if column == 2:
                return task.task_type
            if column == PROGRESS_COLUMN:
                return task.progress
            if column == 4:
                return task.created_at.astimezone().strftime("%H:%M:%S")
            return self._duration(task)
        if role == Qt.ItemDataRole.ForegroundRole and column == 0:
            return QColor(STATUS_COLOURS.get(task.status, "#1d2230"))
        if role == Qt.ItemDataRole.ToolTipRole and task.error:
            return task.error
        return None

    @staticmethod
    def _duration(task: Task) -> str:
        if task.started_at is None:
            return "—"
        end = task.completed_at or utcnow()
        return duration((end - task.started_at).total_seconds())

    def task_at(self, row: int) -> Task:
        return self._rows[row]

    def row_of(self, task_id: str) -> int | None:
        return next((row for row, task in enumerate(self._rows) if task.id == task_id), None)

    def set_agent_names(self, names: dict[str, str]) -> None:
        """Names from a reload. Merged, not replaced: an agent created while the reload was under
        way is announced (``set_agent_name``) before the reload's older list arrives."""
        self._agent_names.update(names)
        if self._rows:
            self.dataChanged.emit(self.index(0, 1), self.index(len(self._rows) - 1, 1))

    def set_agent_name(self, agent_id: str, name: str) -> None:
        """An agent was created or renamed."""
        self._agent_names[agent_id] = name
        if self._rows:
            self.dataChanged.emit(self.index(0, 1), self.index(len(self._rows) - 1, 1))

    def upsert(self, task: Task) -> None:
        """A new task goes on top; a known one is updated in place."""
        row = self.row_of(task.id)
        if row is None:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self._rows.insert(0, task)
            self.endInsertRows()
            return
        self._rows[row] = task
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def set_progress(self, task_id: str, progress: int) -> None:
        row = self.row_of(task_id)
        if row is None:
            return
        self._rows[row] = self._rows[row].model_copy(update={"progress": progress})
        self.dataChanged.emit(self.index(row, PROGRESS_COLUMN), self.index(row, len(COLUMNS) - 1))

    def tick(self) -> None:
        """Redraw the duration of running tasks."""
        for row, task in enumerate(self._rows):
            if task.status == "running":
                self.dataChanged.emit(self.index(row, len(COLUMNS) - 1), self.index(row, len(COLUMNS) - 1))


class ProgressDelegate(QStyledItemDelegate):
    """Draws the Progress column as a progress bar."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        task = index.data(TASK_ROLE)
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(6, 6, -6, -6))  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 100
        bar.progress = int(index.data() or 0)
        bar.text = f"{bar.progress}%" if task is None or task.status == "running" else task.status
        bar.textVisible = True
        bar.state = option.state  # type: ignore[attr-defined]
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
