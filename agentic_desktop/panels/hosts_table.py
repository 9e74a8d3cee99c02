"""The Hosts panel's item model (one Ollama host per row, coloured by state) and the model pickers'
host labels ("llama3.2:latest — gpu-box-1, gpu-box-2")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

from agentic_desktop.panels.models_table import human_size
from agentic_desktop.panels.security_table import dot
from agentic_desktop.widgets.list_table import Index, ListTableModel

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from PySide6.QtWidgets import QComboBox

    from server.services.host_directory import HostView

COLUMNS = (
    "Host",
    "URL",
    "State",
    "Models",
    "Loaded",
    "In flight",
    "Breaker",
    "Latency",
    "Why",
)
HOST, URL, STATE, MODELS, LOADED, IN_FLIGHT, BREAKER, LATENCY, REASON = range(len(COLUMNS))
# The weight is in the details area: it rarely changes and the Why column needs the room.
HOST_ROLE = Qt.ItemDataRole.UserRole + 1
MISSING = "—"
STATE_COLOURS = {"healthy": "#1f9d55", "degraded": "#b7791f", "down": "#d64545"}
BREAKER_TEXT = {"closed": "Closed", "open": "Open", "half_open": "Half-open"}
BREAKER_COLOURS = {"open": "#d64545", "half_open": "#b7791f"}
MUTED = "#8a93a6"
DOWN_ROW = "#fdf0f0"
NUMERIC = {MODELS, LOADED, IN_FLIGHT, LATENCY}


def latency_text(ms: float | None) -> str:
    """``85 ms``, ``1.2 s``, or a dash before the host has served a call."""
    if ms is None:
        return MISSING
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def weight_text(weight: float) -> str:
    return f"{weight:g}"


class HostsTableModel(ListTableModel["HostView"]):
    """Hosts in the router's order (the settings' host first); rows change in place on refresh."""

    COLUMNS = COLUMNS

    def show_hosts(self, views: Sequence[HostView]) -> None:
        """Show ``views``: a reset when hosts came or went, else an in-place update (keeps selection)."""
        if [view.id for view in views] != [view.id for view in self._rows]:
            self.reset(list(views))
            return
        changed = [row for row, view in enumerate(views) if view != self._rows[row]]
        self._rows = list(views)
        if changed:
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), len(COLUMNS) - 1))

    def host_at(self, row: int) -> HostView:
        return self._rows[row]

    def row_of(self, host_id: str) -> int | None:
        return next((row for row, view in enumerate(self._rows) if view.id == host_id), None)

    def ids(self) -> list[str]:
        return [view.id for view in self._rows]

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(section)
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        view = self._rows[index.row()]
        column = index.column()
        if role == HOST_ROLE:
            return view
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(view, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == STATE:
                return QColor(STATE_COLOURS.get(view.state, MUTED))
            if column == BREAKER:
                return QColor(BREAKER_COLOURS.get(view.breaker, MUTED))
            if column == REASON and view.state != "healthy":
                return QColor(STATE_COLOURS.get(view.state, MUTED))
            if column in (URL, REASON) or (column == MODELS and view.state == "down"):
                return QColor(MUTED)
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == STATE:
            return dot(STATE_COLOURS.get(view.state, MUTED))
        if role == Qt.ItemDataRole.FontRole and column in (HOST, STATE):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and view.state == "down":
            return QColor(DOWN_ROW)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(view, column)
        return None


HEADER_TIPS = {
    STATE: "From the latest probe and the host's recent calls",
    MODELS: "Models installed on the host (/api/tags)",
    LOADED: "Models in memory now (/api/ps), and the GPU memory they take: calls on them start at once",
    IN_FLIGHT: "Model calls running on the host now / the most it takes at once",
    BREAKER: "Circuit breaker: open after repeated failures (calls go elsewhere), "
    "half-open while a trial call checks it",
    LATENCY: "Moving average of the host's recent call times",
}


def _text(view: HostView, column: int) -> str:
    if column == HOST:
        return view.id
    if column == URL:  # http:// is what nearly every host uses; https:// stays visible
        return view.url.removeprefix("http://")
    if column == STATE:
        return view.state.capitalize()
    if column == MODELS:
        return str(len(view.models)) if view.state != "down" or view.models else MISSING
    if column == LOADED:  # a host that does not answer runs nothing the router can use
        if view.state == "down":
            return MISSING
        return (
            f"{len(view.loaded)} · {human_size(view.vram_used)}" if view.vram_used else str(len(view.loaded))
        )
    if column == IN_FLIGHT:
        return f"{view.in_flight} / {view.max_concurrent}" if view.max_concurrent else str(view.in_flight)
    if column == BREAKER:
        return BREAKER_TEXT.get(view.breaker, view.breaker)
    if column == LATENCY:
        return latency_text(view.latency_ms)
    if view.state == "healthy":
        return ""  # "3 models installed, 1 loaded": the columns say it already (the tooltip too)
    # The row shows the URL already: the reason need not repeat it in a narrow column.
    return " ".join(view.reason.replace(f" at {view.url}", "").split())


def _tooltip(view: HostView, column: int) -> str | None:
    if column in (STATE, REASON):
        return f"{view.state.capitalize()}: {view.reason}"
    if column in (MODELS, LOADED):
        names = view.models if column == MODELS else view.loaded
        stale = "As of its last answer (it is down now):\n" if view.state == "down" and names else ""
        return stale + "\n".join(names) if names else None
    if column == URL:
        return view.url
    if column == HOST:
        version = f"Ollama {view.version}" if view.version else "Ollama version not known yet"
        return f"{view.id} · {view.url}\n{version}"
    return None


def _alignment(column: int) -> Qt.AlignmentFlag:
    horizontal = Qt.AlignmentFlag.AlignRight if column in NUMERIC else Qt.AlignmentFlag.AlignLeft
    return horizontal | Qt.AlignmentFlag.AlignVCenter


# -- model pickers --


def _canonical(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def hosts_of(name: str, views: Iterable[HostView]) -> list[str]:
    """Ids of the hosts that list ``name`` as installed (in the router's order)."""
    wanted = _canonical(name)
    return [view.id for view in views if wanted in view.models]


def model_label(name: str, views: Sequence[HostView]) -> tuple[str, str]:
    """The text of a picker entry and its tooltip: with several hosts the text names those that have
    the model (``llama3.2:3b — gpu-box-1, gpu-box-2``); with one host it is the bare name."""
    holders = hosts_of(name, views)
    down = {view.id for view in views if view.state == "down"}
    where = ", ".join(f"{host} (down)" if host in down else host for host in holders)
    tip = f"{name} is installed on {where}" if holders else f"{name}: no host lists it now"
    if len(views) <= 1:
        return name, tip
    return (f"{name} — {where}" if holders else f"{name} — no host"), tip


def fill_model_picker(
    combo: QComboBox, names: Sequence[str], views: Sequence[HostView], current: str | None
) -> None:
    """Fill ``combo`` with ``names`` (each name is the item's data; the text may name its hosts) and
    select ``current``, adding it when no host lists it (a session's or agent's model stays visible)."""
    combo.clear()
    entries = list(names)
    if current and current not in entries:
        entries.insert(0, current)
    for name in entries:
        text, tip = model_label(name, views)
        combo.addItem(text, name)
        combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
    if current:
        combo.setCurrentIndex(combo.findData(current))


def picked_model(combo: QComboBox) -> str | None:
    """The model name of the picked entry (not its decorated text)."""
    name = combo.currentData()
    return name if isinstance(name, str) and name else None


def relabel_model_picker(combo: QComboBox, views: Sequence[HostView]) -> None:
    """Name the hosts again in ``combo``'s entries (a host came, went, or went down); no reload."""
    for row in range(combo.count()):
        name = combo.itemData(row)
        if isinstance(name, str):
            text, tip = model_label(name, views)
            combo.setItemText(row, text)
            combo.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
