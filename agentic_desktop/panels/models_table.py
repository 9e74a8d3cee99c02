"""The Models panel's item model: installed Ollama models as rows, sortable by any column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from server.services.llm import InstalledModel

    Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Name", "Size", "Modified", "Family", "Parameters", "Quantization")
NAME, SIZE, MODIFIED, FAMILY, PARAMETERS, QUANTIZATION = range(len(COLUMNS))
MISSING = "—"
# Ollama reports sizes in decimal units (its CLI shows 2.0 GB for 2,019,393,189 bytes); so do we.
UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB"))


def human_size(size: int) -> str:
    """``4.7 GB``, ``274 MB``, ``812 B``: one decimal below 10 of a unit, none above."""
    for factor, unit in UNITS:
        if size >= factor:
            value = size / factor
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


def local_time(moment: datetime | None) -> str:
    """``2026-10-01 14:00`` in the machine's time zone, or a dash when Ollama did not say."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else MISSING


def _text(model: InstalledModel, column: int) -> str:
    if column == NAME:
        return model.name
    if column == SIZE:
        return human_size(model.size)
    if column == MODIFIED:
        return local_time(model.modified_at)
    if column == FAMILY:
        return model.family or MISSING
    if column == PARAMETERS:
        return model.parameter_size or MISSING
    return model.quantization_level or MISSING


def _parameter_count(text: str | None) -> float:
    """``7.6B`` → 7.6e9, ``137M`` → 1.37e8, so the Parameters column sorts by size, not by text."""
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    if not text:
        return -1.0
    try:
        return float(text[:-1]) * scale[text[-1].upper()]
    except (KeyError, ValueError):
        return -1.0


SORT_KEYS: dict[int, Callable[[InstalledModel], Any]] = {
    NAME: lambda model: model.name.lower(),
    SIZE: lambda model: model.size,
    MODIFIED: lambda model: model.modified_at.timestamp() if model.modified_at else 0.0,
    FAMILY: lambda model: (model.family or "").lower(),
    PARAMETERS: lambda model: _parameter_count(model.parameter_size),
    QUANTIZATION: lambda model: (model.quantization_level or "").lower(),
}


class ModelsTableModel(QAbstractTableModel):
    """Installed models, one per row, kept in the order of the last ``sort`` (by name at first)."""

    def __init__(self) -> None:
        super().__init__()
        self._models: list[InstalledModel] = []
        self._sort_column = NAME
        self._sort_order = Qt.SortOrder.AscendingOrder

    # -- what the panel uses --

    def set_models(self, models: Sequence[InstalledModel]) -> None:
        """Show ``models`` instead of the current rows, in the current sort order."""
        self.beginResetModel()
        self._models = self._sorted(models)
        self.endResetModel()

    def model_at(self, row: int) -> InstalledModel:
        """The model shown in ``row``."""
        return self._models[row]

    def names(self) -> list[str]:
        """Model names in display order."""
        return [model.name for model in self._models]

    def row_of(self, name: str) -> int | None:
        """The row showing ``name``, if any."""
        return next((row for row, model in enumerate(self._models) if model.name == name), None)

    def total_size(self) -> int:
        """Bytes on disk of all rows together."""
        return sum(model.size for model in self._models)

    # -- QAbstractTableModel --

    def rowCount(self, parent: Index | None = None) -> int:
        """Number of models (none under a row: this is a flat table)."""
        return 0 if parent is not None and parent.isValid() else len(self._models)

    def columnCount(self, parent: Index | None = None) -> int:
        """Number of columns."""
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole:
            return self._alignment(section)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Cell text, alignment, tooltips, and the whole ``InstalledModel`` under ``UserRole``."""
        if not index.isValid() or not 0 <= index.row() < len(self._models):
            return None
        model = self._models[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(model, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self._alignment(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == SIZE:
                return f"{model.size:,} bytes"
            if column == NAME:
                return f"{model.name}\n{model.format or 'unknown format'}, digest {model.digest[:12]}"
            return None
        if role == Qt.ItemDataRole.UserRole:
            return model
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column`` (sizes and parameter counts by value), keeping the selection."""
        if column not in SORT_KEYS:
            return
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        names = [self._models[index.row()].name if index.isValid() else None for index in persistent]
        self._models = self._sorted(self._models)
        rows = {model.name: row for row, model in enumerate(self._models)}
        moved = [
            self.index(rows[name], index.column()) if name is not None and name in rows else QModelIndex()
            for name, index in zip(names, persistent, strict=True)
        ]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def _sorted(self, models: Sequence[InstalledModel]) -> list[InstalledModel]:
        # Ties (same size, same family, ...) fall back to the name, so the order is stable across refreshes.
        by_name = sorted(models, key=SORT_KEYS[NAME])
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        return sorted(by_name, key=SORT_KEYS[self._sort_column], reverse=descending)

    @staticmethod
    def _alignment(column: int) -> Qt.AlignmentFlag:
        horizontal = Qt.AlignmentFlag.AlignRight if column == SIZE else Qt.AlignmentFlag.AlignLeft
        return horizontal | Qt.AlignmentFlag.AlignVCenter
