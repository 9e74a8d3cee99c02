"""System: live CPU, memory, GPU, network and disk charts over 1 min, 10 min or 1 h, paused while hidden.

pyqtgraph and numpy are imported when the panel is first shown, so the window's start-up does not
pay for them until the operator opens System.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

import httpx
from PySide6.QtCore import QRectF, QSize, Qt, Slot
from PySide6.QtGui import QColor, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background
from agentic_desktop.remote_metrics import get_history, get_metrics, sample_of
from agentic_desktop.widgets.header import PanelHeader
from server.services.errors import AgenticError, FieldError
from server.services.metrics import series_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from PySide6.QtGui import QHideEvent, QPaintEvent, QShowEvent

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import HostStateChanged, MetricsSampled
    from server.services.metrics_models import GpuMetrics, SystemSample

WINDOWS = (("1 min", 60), ("10 min", 600), ("1 h", 3600))
DEFAULT_WINDOW = 600
MB = 1024**2  # as the API's read_speed_mbps
ACCENT = "#4f7cff"
SECOND = "#f0883e"
TEXT = "#5b6478"
AXIS = "#c9d0de"
HOT = "#d64545"
THIRD = "#8a63d2"
MANY_CORES = 8  # beyond this, per-core lines are spaghetti: show a bar per core instead
PLOT_MIN_HEIGHT = 120
# Room past the plotted range (a share of it) so the labels of the edge ticks (0 %, 100 %, now) fit.
EDGE = 0.06
DRAWN_POINTS = 400  # buckets per curve at most (each drawn as its low and high)
GPU_SERIES = re.compile(r"gpu\.(\d+)\.utilization_percent")
THIS_MACHINE = "This machine"
REMOTE_EVERY_S = 1.0  # how often the chosen host's agentic-server is asked, while the panel is shown
REMOTE_TIMEOUT_S = 4.0
REMOTE_KEPT_S = 3600  # the longest window: older remote points are dropped


@dataclass(frozen=True)
class Line:
    """One curve: the history series it draws, its name in the values row, colour, width, scale."""

    series: str
    name: str
    colour: str
    width: float = 2.0
    divisor: float = 1.0
    shown_value: bool = True
    right: bool = False  # drawn against the right-hand axis (a second unit, e.g. W beside °C)


def percent(value: float | None) -> str:
    """``42.0 %``, or a dash when unknown."""
    return "—" if value is None else f"{value:.1f} %"


def rate(bytes_per_sec: float | None) -> str:
    """``12.3 MB/s``; small rates in KB/s, so a trickle does not read as ``0.00 MB/s``."""
    if bytes_per_sec is None:
        return "—"
    megabytes = bytes_per_sec / MB
    if megabytes >= 100:
        return f"{megabytes:.0f} MB/s"
    if megabytes >= 0.1:
        return f"{megabytes:.1f} MB/s" if megabytes >= 10 else f"{megabytes:.2f} MB/s"
    return f"{bytes_per_sec / 1024:.0f} KB/s"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (never below 1), so the y axis moves in steps."""
    ceiling = 1.0
    while ceiling < value:
        for factor in (2, 2.5, 2):
            ceiling *= factor
            if ceiling >= value:
                break
    return ceiling


def gpu_title(index: int, name: str) -> str:
    """``GPU 0 · RTX 4090``: the brand words NVML puts first are left out (the tooltip has them)."""
    short = re.sub(r"^(NVIDIA\s+)?(GeForce\s+)?", "", name).strip()
    return f"GPU {index}" + (f" · {short}" if short else "")


def dot(colour: str, name: str, value: str) -> str:
    """A legend entry with its current value, as rich text."""
    return f"<span style='color:{colour}'>●</span> {name} <b>{value}</b>"


def time_ticks(window: int) -> list[tuple[float, str]]:
    """Ticks for the x axis (seconds before the newest sample), labelled with their unit; 0 is ``now``."""
    step, unit, per = {60: (10, "s", 1), 600: (120, "min", 60), 3600: (600, "min", 60)}[window]
    # The tick at the window's far edge is left out: half its label would fall outside the plot.
    return [(-float(t), f"−{t // per} {unit}" if t else "now") for t in range(window - step, -1, -step)]


class CoreBars(QWidget):
    """One thin bar per core, its height the core's current load (for machines with many cores)."""

    def __init__(self) -> None:
        super().__init__()
        self._values: list[float] = []
        self.setFixedHeight(22)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(self, values: Sequence[float]) -> None:
        """Show each core's load in percent."""
        self._values = list(values)
        self.setToolTip("Per-core load: " + ", ".join(f"{value:.0f} %" for value in self._values))
        self.update()

    def values(self) -> list[float]:
        """The loads shown, one per core."""
        return list(self._values)

    def sizeHint(self) -> QSize:
        """As wide as the card allows."""
        return QSize(200, 22)

    def paintEvent(self, _event: QPaintEvent) -> None:
        """Grey slots with the load filled in the accent colour from the bottom."""
        if not self._values:
            return
        painter = QPainter(self)
        slot = self.width() / len(self._values)
        bar = max(1.0, slot - 2)
        height = self.height()
        for i, value in enumerate(self._values):
            x = i * slot + (slot - bar) / 2
            painter.fillRect(QRectF(x, 0, bar, height), QColor("#e9edf5"))
            filled = height * min(max(value, 0.0), 100.0) / 100
            painter.fillRect(QRectF(x, height - filled, bar, filled), QColor(ACCENT))
        painter.end()


class LiveChart(QFrame):
    """A card: title and current values on top, a detail line, and a plot of a few series over time."""

    def __init__(
        self,
        title: str,
        lines: Sequence[Line],
        *,
        unit: str,
        percent_scale: bool,
        right_unit: str | None = None,
        tooltip: str = "",
    ) -> None:
        import pyqtgraph as pg

        super().__init__()
        self.setObjectName("card")
        self.lines = {line.series: line for line in lines}
        self._percent = percent_scale
        self._ceilings = {False: 0.0, True: 0.0}  # by side: right axis or not
        self._times: dict[str, deque[float]] = {line.series: deque() for line in lines}
        self._values: dict[str, deque[float]] = {line.series: deque() for line in lines}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 10, 6)
        layout.setSpacing(2)
        self._top = QHBoxLayout()
        self._top.setSpacing(14)
        self.title = QLabel(title)
        self.title.setObjectName("cardTitle")
        self.title.setToolTip(tooltip)
        # A long title is cut off rather than widening the card past the window.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(60)
        self._top.addWidget(self.title, 1)
        self.value_labels: dict[str, QLabel] = {}
        for line in lines:
            if line.shown_value:
                self.value_labels[line.series] = self.add_value(line.series)
        layout.addLayout(self._top)
        self.detail = QLabel()
        self.detail.setObjectName("cardDetail")
        layout.addWidget(self.detail)

        self.plot_widget = pg.PlotWidget(background="w")
        self.plot_widget.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.plot_widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        plot = self.plot_widget.getPlotItem()
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.showGrid(x=True, y=True, alpha=0.12)
        plot.setClipToView(True)
        plot.layout.setContentsMargins(0, 6, 8, 0)
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(pg.mkPen(AXIS))
            axis.setTextPen(pg.mkPen(TEXT))
            axis.setStyle(hideOverlappingLabels=False, tickTextOffset=4)
        plot.getAxis("left").setWidth(46)
        plot.setLabel("left", unit, color=TEXT)
        if percent_scale:
            plot.setYRange(0, 100, padding=EDGE)
            plot.getAxis("left").setTicks([[(v, str(v)) for v in (0, 25, 50, 75, 100)]])
        self._views = {False: plot.getViewBox(), True: None}
        if right_unit is not None:
            self._add_right_axis(plot, right_unit)
        self.curves: dict[str, Any] = {}
        for line in reversed(lines):  # the first line is the headline: draw it on top
            pen = pg.mkPen(line.colour, width=line.width)
            if line.right:
                curve = pg.PlotDataItem(pen=pen, antialias=False, name=line.name, clipToView=True)
                self._views[True].addItem(curve)
            else:
                curve = plot.plot(pen=pen, antialias=False, name=line.name)
            self.curves[line.series] = curve
        layout.addWidget(self.plot_widget, 1)

    def _add_right_axis(self, plot: Any, unit: str) -> None:
        """A second y axis on the right with its own view, sharing the time axis."""
        import pyqtgraph as pg

        view = pg.ViewBox(enableMouse=False)
        plot.scene().addItem(view)
        axis = plot.getAxis("right")
        plot.showAxis("right")
        axis.linkToView(view)
        axis.setPen(pg.mkPen(AXIS))
        axis.setTextPen(pg.mkPen(TEXT))
        axis.setWidth(46)
        axis.setStyle(hideOverlappingLabels=False, tickTextOffset=4)
        plot.setLabel("right", unit, color=TEXT)
        view.setXLink(plot)

        def follow() -> None:
            view.setGeometry(plot.getViewBox().sceneBoundingRect())

        plot.getViewBox().sigResized.connect(follow)
        follow()
        self._views[True] = view

    def add_value(self, key: str) -> QLabel:
        """Add a current-value label to the top row (right-aligned, in order) and return it."""
        label = QLabel("—")
        label.setObjectName("chartValue")
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setProperty("valueKey", key)
        self._top.addWidget(label)
        return label

    # -- data --

    def fill(self, series: str, points: Iterable[tuple[float, float | None]]) -> None:
        """Replace ``series``'s points with ``(timestamp, value)`` pairs, oldest first."""
        divisor = self.lines[series].divisor
        times, values = self._times[series], self._values[series]
        times.clear()
        values.clear()
        for stamp, value in points:
            times.append(stamp)
            values.append(float("nan") if value is None else value / divisor)

    def append(self, series: str, stamp: float, value: float | None) -> None:
        """Add one point (ignored when not newer than the last, e.g. already read from the history)."""
        times = self._times[series]
        if times and stamp <= times[-1]:
            return
        times.append(stamp)
        self._values[series].append(float("nan") if value is None else value / self.lines[series].divisor)

    def newest(self) -> float | None:
        """Timestamp of the newest point held."""
        return max((times[-1] for times in self._times.values() if times), default=None)

    def redraw(self, now: float, window: float) -> None:
        """Drop points older than ``window``, then hand each curve its points once (x: time before now)."""
        import numpy as np

        cutoff = now - window
        highest = {False: 0.0, True: 0.0}
        for series, curve in self.curves.items():
            times, values = self._times[series], self._values[series]
            while times and times[0] < cutoff:
                times.popleft()
                values.popleft()
            x = np.fromiter(times, float, len(times)) - now
            y = np.fromiter(values, float, len(values))
            curve.setData(x, y)
            finite = y[np.isfinite(y)]
            if finite.size:
                right = self.lines[series].right
                highest[right] = max(highest[right], float(finite.max()))
        for right, view in self._views.items():
            if view is None or (self._percent and not right):
                continue
            ceiling = nice_ceiling(highest[right] * 1.1)
            if ceiling != self._ceilings[right]:  # fixed steps: the axis does not twitch with every sample
                self._ceilings[right] = ceiling
                view.setYRange(0, ceiling, padding=EDGE)

    def set_window(self, window: int, interval: float) -> None:
        """Label the x axis for ``window`` seconds (``−10 min`` … ``now``) and thin out long series."""
        plot = self.plot_widget.getPlotItem()
        plot.setXRange(-window, window * EDGE, padding=0)  # before any data: clipping uses this range
        plot.getAxis("bottom").setTicks([time_ticks(window)])
        # An hour of samples is more points than pixels: draw each bucket's low and high instead.
        every = max(1, int(window / interval / DRAWN_POINTS))
        for curve in self.curves.values():
            curve.setDownsampling(ds=every, auto=False, method="peak")

    def points(self, series: str) -> int:
        """How many points the curve of ``series`` holds."""
        x, _ = self.curves[series].getOriginalDataset()
        return 0 if x is None else len(x)


class SystemPanel(QWidget):
    """Live system charts. Charts are built on first show and stop updating while the panel is hidden."""

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._window = DEFAULT_WINDOW
        self._paused = True
        self._latest: SystemSample | None = None
        self._fetching: asyncio.Task[None] | None = None
        self._gpu_names: dict[int, str] = {}
        self.charts: dict[str, LiveChart] = {}
        self.value_labels: dict[str, QLabel] = {}
        self.core_bars: CoreBars | None = None
        # Remote machines (hosts with an agentic-server): None is this machine.
        self._machine: str | None = None
        self._remote_points: dict[str, deque[tuple[float, dict[str, float | None]]]] = {}
        self._remote_latest: dict[str, SystemSample] = {}
        self._polling: asyncio.Task[None] | None = None
        self._backfilled: set[str] = set()  # hosts whose history was asked for once

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 16)
        layout.setSpacing(8)
        self.header = PanelHeader("System", "CPU, memory, GPUs, network and disk, live.")
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addLayout(self._build_window_choice())
        layout.addLayout(top)

        # Why the chosen remote machine's charts stand still (it does not answer, refuses the token).
        self.remote_note = QLabel()
        self.remote_note.setObjectName("remoteNote")
        self.remote_note.setStyleSheet(
            "QLabel#remoteNote { background: #fdecec; border: 1px solid #f3b8b8; border-radius: 8px;"
            " color: #a12a2a; padding: 8px 14px; }"
        )
        self.remote_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.remote_note.hide()
        layout.addWidget(self.remote_note)

        # One line, no word wrap: a wrapping label in a scroll area asks for a tall minimum height.
        self.gpu_note = QLabel()
        self.gpu_note.setObjectName("gpuNote")
        self.gpu_note.setStyleSheet(  # until app.qss styles QLabel#gpuNote
            "QLabel#gpuNote { background: #ffffff; border: 1px solid #e1e5ee; border-radius: 8px;"
            " color: #5b6478; padding: 8px 14px; }"
        )
        self.gpu_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.gpu_note.hide()

        # Three bands: CPU and memory, the GPUs (or the note saying why there are none), network and disk.
        self._area = QWidget()
        self._area.setObjectName("systemCharts")
        self._bands = QVBoxLayout(self._area)
        self._bands.setContentsMargins(0, 0, 0, 0)
        self._bands.setSpacing(12)
        self._top_band = QHBoxLayout()
        self._gpu_band = QGridLayout()
        self._bottom_band = QHBoxLayout()
        for band, stretch in ((self._top_band, 1), (self._gpu_band, 0), (self._bottom_band, 1)):
            band.setSpacing(12)
            self._bands.addLayout(band, stretch)
        self._gpu_band.addWidget(self.gpu_note, 0, 0, 1, 2)
        scroll = QScrollArea()
        scroll.setObjectName("systemScroll")
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self._area)
        scroll.setStyleSheet("QScrollArea, QWidget#systemCharts { background: transparent; }")
        layout.addWidget(scroll, 1)

        for number, (_, seconds) in enumerate(WINDOWS, start=1):
            shortcut = QShortcut(QKeySequence(str(number)), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda seconds=seconds: self.set_window(seconds))
        bridge.metrics_sampled.connect(self.on_metrics_sampled)
        bridge.host_state_changed.connect(self.on_host_state_changed)

    def _build_machine_choice(self) -> QHBoxLayout:
        """Which machine the charts show: this one, or a host whose box runs an agentic-server."""
        row = QHBoxLayout()
        row.setSpacing(6)
        self.machine_choice = QComboBox()
        self.machine_choice.setObjectName("machineChoice")
        self.machine_choice.addItem(THIS_MACHINE, None)
        self.machine_choice.setToolTip(
            "Show this machine, or a host whose box runs an agentic-server (its URL is set on the host)"
        )
        self.machine_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.machine_choice.currentIndexChanged.connect(self._on_machine_chosen)
        row.addStretch(1)
        row.addWidget(QLabel("Machine"))
        row.addWidget(self.machine_choice)
        return row

    def _build_window_choice(self) -> QVBoxLayout:
        """Segmented 1 min / 10 min / 1 h buttons with the live state under them."""
        column = QVBoxLayout()
        column.setContentsMargins(0, 4, 0, 8)
        column.setSpacing(4)
        segment = QWidget()
        segment.setObjectName("windowChoice")
        # Until app.qss has these rules: the checked window must stand out.
        segment.setStyleSheet(
            "QPushButton#windowButton { border-radius: 0; padding: 4px 14px; margin: 0; }"
            "QPushButton#windowButton:checked { background: #4f7cff; border-color: #4f7cff; color: #ffffff; }"
        )
        row = QHBoxLayout(segment)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.window_choice = QButtonGroup(self)
        self.window_choice.setExclusive(True)
        for number, (text, seconds) in enumerate(WINDOWS, start=1):
            button = QPushButton(text)
            button.setObjectName("windowButton")
            button.setCheckable(True)
            button.setChecked(seconds == self._window)
            button.setToolTip(f"Show the last {text} (key {number}; keys 1, 2 and 3 pick the window)")
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            self.window_choice.addButton(button, seconds)
            row.addWidget(button)
        self.window_choice.idClicked.connect(self.set_window)
        self.live_label = QLabel()
        self.live_label.setObjectName("cardDetail")
        self.live_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        column.addLayout(self._build_machine_choice())
        column.addStretch(1)
        column.addWidget(segment, 0, Qt.AlignmentFlag.AlignRight)
        column.addWidget(self.live_label)
        self._say_live()
        return column

    # -- what tests and the window use --

    @property
    def paused(self) -> bool:
        """Whether the charts are standing still (the panel is hidden)."""
        return self._paused

    @property
    def machine(self) -> str | None:
        """The host whose machine the charts show, or None for this machine."""
        return self._machine

    def machines(self) -> list[str]:
        """The chooser's entries, as shown."""
        return [self.machine_choice.itemText(i) for i in range(self.machine_choice.count())]

    def set_machine(self, host_id: str | None) -> None:
        """Show ``host_id``'s box (a host with an agentic-server), or this machine for None."""
        index = self.machine_choice.findData(host_id)
        if index < 0:
            raise ValueError(f"no host {host_id!r} with an agentic-server; choose one of {self.machines()}")
        self.machine_choice.setCurrentIndex(index)  # _on_machine_chosen does the rest

    @property
    def window_seconds(self) -> int:
        """The time window the charts show."""
        return self._window

    def set_window(self, seconds: int) -> None:
        """Show the last ``seconds`` (60, 600 or 3600), refilled from the history."""
        button = self.window_choice.button(seconds)
        if button is None:
            raise ValueError(f"no {seconds} s window; choose one of {[s for _, s in WINDOWS]}")
        button.setChecked(True)
        if seconds == self._window:
            return
        self._window = seconds
        self._say_live()
        if not self._paused:
            self._refill()

    def curve_points(self, series: str) -> int:
        """How many points the chart drawing ``series`` (e.g. ``cpu.usage_percent``) holds."""
        for chart in self.charts.values():
            if series in chart.curves:
                return chart.points(series)
        raise KeyError(f"no chart draws {series}")

    # -- showing and hiding --

    def showEvent(self, event: QShowEvent) -> None:
        """Build the charts the first time, then catch up from the history and go live."""
        super().showEvent(event)
        if not self._paused:
            return
        self._paused = False
        self.refresh_machines()
        if not self.charts:
            self._build_charts()
        self._refill()
        self._poll_if_remote()
        if self._latest is None:
            self._fetching = background.restart(self._fetching, self._fetch_latest(), name="system-latest")
        self._say_live()

    def hideEvent(self, event: QHideEvent) -> None:
        """Stand still while nobody looks: samples are neither drawn nor kept (the history has them)."""
        super().hideEvent(event)
        self._paused = True
        self._stop_polling()
        self._say_live()

    async def _fetch_latest(self) -> None:
        sample = await self._backend.metrics.latest()
        if self._latest is None:
            self._latest = sample
            if not self._paused and self._machine is None:
                self._show_values(sample)

    # -- bus signals --

    @Slot(object)
    def on_metrics_sampled(self, event: MetricsSampled) -> None:
        """Append the new sample to every chart and show its values (only while shown)."""
        sample = event.sample
        self._latest = sample
        if self._paused or not self.charts or self._machine is not None:
            return
        self._draw_sample(sample)

    def _draw_sample(self, sample: SystemSample) -> None:
        """Append one sample (this machine's or the chosen host's) to every chart and show its values."""
        fresh = {gpu.index for gpu in sample.gpu if f"gpu.{gpu.index}" not in self.charts}
        for gpu in sample.gpu:
            self._gpu_names[gpu.index] = gpu.name
        for index in sorted(fresh):
            for chart in self._add_gpu_chart(index):
                self._fill(chart)  # the history already holds this sample
        stamp = sample.timestamp.timestamp()
        values = series_of(sample)
        for chart in self.charts.values():
            for series in chart.curves:
                chart.append(series, stamp, values.get(series))
        self._redraw(stamp)
        self._show_values(sample)

    @Slot(object)
    def on_host_state_changed(self, _event: HostStateChanged) -> None:
        """A host came or went: the chooser follows (``showEvent`` catches up while hidden)."""
        if not self._paused:
            self.refresh_machines()

    # -- remote machines --

    def refresh_machines(self) -> None:
        """List this machine and each host with an agentic-server; a chosen host that went is let go."""
        hosts = [spec.id for spec in self._backend.router.specs() if spec.agentic_url]
        listed = [self.machine_choice.itemData(i) for i in range(1, self.machine_choice.count())]
        if hosts == listed:
            return
        self.machine_choice.blockSignals(True)
        while self.machine_choice.count() > 1:
            self.machine_choice.removeItem(1)
        for host_id in hosts:
            self.machine_choice.addItem(host_id, host_id)
        for gone in set(self._remote_points) - set(hosts):
            self._remote_points.pop(gone, None)
            self._remote_latest.pop(gone, None)
        chosen = self.machine_choice.findData(self._machine) if self._machine is not None else 0
        self.machine_choice.setCurrentIndex(max(chosen, 0))
        self.machine_choice.blockSignals(False)
        if chosen < 0:  # the chosen host was removed
            self._on_machine_chosen(0)

    @Slot(int)
    def _on_machine_chosen(self, index: int) -> None:
        machine = self.machine_choice.itemData(index)
        if machine == self._machine:
            return
        self._stop_polling()
        self._machine = machine
        self.remote_note.hide()
        self._say_live()
        if not self.charts:  # not shown yet: showEvent builds and fills
            return
        for index_ in sorted(self._gpu_indexes()):
            self._drop_gpu_chart(index_)  # each machine has its own GPUs
        for chart in self.charts.values():  # nothing of the other machine's stays on screen
            for series in chart.curves:
                chart.fill(series, ())
            for label in chart.value_labels.values():
                label.setText("—")
            chart.detail.setText("")
        self._redraw(time.time())
        self._refill()
        self._show_gpu_note()
        if self._machine is not None and self._machine not in self._remote_latest:
            self.header.subtitle.setText(f"{self._machine} · waiting for its agentic-server")
        self._poll_if_remote()

    def _poll_if_remote(self) -> None:
        if self._machine is not None and not self._paused:
            self._polling = background.restart(
                self._polling, self._poll(self._machine), name="system-remote-metrics"
            )

    def _stop_polling(self) -> None:
        if self._polling is not None and not self._polling.done():
            self._polling.cancel()
        self._polling = None

    async def _poll(self, host_id: str) -> None:
        """Ask the host's agentic-server every second while it is chosen and the panel is shown."""
        while True:
            started = time.monotonic()
            answered = await self._poll_once(host_id)
            if answered is not None and host_id not in self._backfilled:
                self._backfilled.add(host_id)
                await self._backfill(host_id, *answered)
            await asyncio.sleep(max(0.0, REMOTE_EVERY_S - (time.monotonic() - started)))

    async def _poll_once(self, host_id: str) -> tuple[str, str | None, SystemSample] | None:
        """One sample from the host's agentic-server (URL, token and sample), or None and the banner."""
        try:
            found = await self._backend.router.agentic_server(host_id)
        except AgenticError as exc:  # removed meanwhile
            self._say_remote(f"{host_id}: {exc}")
            return None
        if found is None:
            self._say_remote(f"{host_id} has no agentic-server URL any more")
            return None
        url, token = found
        try:
            sample = sample_of(await get_metrics(url, token, timeout_s=REMOTE_TIMEOUT_S))
        except httpx.HTTPError as exc:
            why = str(exc) or type(exc).__name__
            self._say_remote(f"{host_id}'s agentic-server at {url} does not answer: {why}")
            return None
        except ValueError as exc:
            self._say_remote(f"{host_id}'s agentic-server at {url} {exc}")
            return None
        self._take_remote(host_id, sample)
        return url, token, sample

    async def _backfill(self, host_id: str, url: str, token: str | None, sample: SystemSample) -> None:
        """The hour before the first poll, from the host's own history (once; best effort)."""
        names = [name for name in series_of(sample) if not name.startswith("cpu.core.")]
        history = await get_history(url, token, names, window_s=REMOTE_KEPT_S, timeout_s=REMOTE_TIMEOUT_S)
        points = self._remote_points.get(host_id)
        if not history or points is None:
            return
        first = points[0][0] if points else float("inf")
        earlier: dict[float, dict[str, float | None]] = {}
        for name, series in history.items():
            for stamp, value in series:
                if stamp < first:  # what was polled already stays as polled
                    earlier.setdefault(stamp, {})[name] = value
        points.extendleft(sorted(earlier.items(), reverse=True))
        if host_id == self._machine and not self._paused and self.charts:
            self._refill()

    def _say_remote(self, text: str) -> None:
        """The banner over the charts (which keep what they had)."""
        if self._machine is None:
            return
        self.remote_note.setText(f"<b>{escape(text, quote=False)}</b> — retrying every {REMOTE_EVERY_S:g} s.")
        self.remote_note.show()

    def _take_remote(self, host_id: str, sample: SystemSample) -> None:
        """Keep a remote sample (an hour at most) and draw it when that host is on screen."""
        points = self._remote_points.setdefault(host_id, deque())
        stamp = sample.timestamp.timestamp()
        self._remote_latest[host_id] = sample
        if not points or stamp > points[-1][0]:
            points.append((stamp, series_of(sample)))
        while points and points[0][0] < stamp - REMOTE_KEPT_S:
            points.popleft()
        if host_id != self._machine:
            return
        self.remote_note.hide()
        if not self._paused and self.charts:
            self._draw_sample(sample)
            self._show_gpu_note()

    def _drop_gpu_chart(self, index: int) -> None:
        for key in (f"gpu.{index}", f"gpu.{index}.thermal"):
            chart = self.charts.pop(key)
            for label_key in (*chart.value_labels, key):
                self.value_labels.pop(label_key, None)
            self._gpu_band.removeWidget(chart)
            chart.deleteLater()
        self._place_gpus()
        self._show_gpu_note()

    # -- building --

    def _build_charts(self) -> None:
        cores = max(len(self._latest.cpu.per_core_percent) if self._latest else 0, len(self._core_series()))
        core_lines = [
            Line(f"cpu.core.{core}", f"Core {core}", "#a9bcf5", width=1, shown_value=False)
            for core in range(cores if cores <= MANY_CORES else 0)
        ]
        cpu = self._add_chart(
            self._top_band, "cpu", "CPU", [Line("cpu.usage_percent", "Total", ACCENT), *core_lines], "%", True
        )
        if cores > MANY_CORES:
            self.core_bars = CoreBars()
            cpu.layout().insertWidget(2, self.core_bars)
        self._add_chart(
            self._top_band,
            "memory",
            "MEMORY",
            [Line("memory.usage_percent", "Memory", ACCENT), Line("swap.usage_percent", "Swap", SECOND)],
            "%",
            True,
        )
        self._add_chart(
            self._bottom_band,
            "network",
            "NETWORK",
            [
                Line("network.recv_bytes_per_sec", "Receive", ACCENT, divisor=MB),
                Line("network.sent_bytes_per_sec", "Transmit", SECOND, divisor=MB),
            ],
            "MB/s",
            False,
        )
        self._add_chart(
            self._bottom_band,
            "disk",
            "DISK",
            [
                Line("disk.read_bytes_per_sec", "Read", ACCENT, divisor=MB),
                Line("disk.write_bytes_per_sec", "Write", SECOND, divisor=MB),
            ],
            "MB/s",
            False,
        )
        for index in self._history_gpus():
            self._add_gpu_chart(index)
        self._show_gpu_note()

    def _add_chart(
        self, band: QHBoxLayout, key: str, title: str, lines: list[Line], unit: str, percent_scale: bool
    ) -> LiveChart:
        chart = LiveChart(title, lines, unit=unit, percent_scale=percent_scale)
        chart.set_window(self._window, self._interval())
        self.charts[key] = chart
        self.value_labels.update(chart.value_labels)
        self.value_labels[key] = chart.detail
        band.addWidget(chart, 1)
        return chart

    def _add_gpu_chart(self, index: int) -> list[LiveChart]:
        """A row per GPU: utilization and memory in %, and beside it temperature (°C) and power (W)."""
        prefix = f"gpu.{index}"
        name = self._gpu_names.get(index, "")
        load = LiveChart(
            gpu_title(index, name),
            [
                Line(f"{prefix}.utilization_percent", "Utilization", ACCENT),
                Line(f"{prefix}.memory_percent", "Memory", SECOND),
            ],
            unit="%",
            percent_scale=True,
            tooltip=f"GPU {index}" + (f": {name}" if name else ""),
        )
        thermal = LiveChart(
            f"GPU {index} · HEAT AND POWER",
            [
                Line(f"{prefix}.temperature_c", "Temp", HOT),
                Line(f"{prefix}.power_watts", "Power", THIRD, right=True),
            ],
            unit="°C",
            right_unit="W",
            percent_scale=False,
            tooltip=f"GPU {index}: temperature (left axis, °C) and power draw (right axis, W)",
        )
        for key, chart in ((prefix, load), (f"{prefix}.thermal", thermal)):
            chart.set_window(self._window, self._interval())
            self.charts[key] = chart
            self.value_labels.update(chart.value_labels)
            self.value_labels[key] = chart.detail
        self._place_gpus()
        self._show_gpu_note()
        return [load, thermal]

    def _place_gpus(self) -> None:
        """GPU rows between the CPU/memory row and the network/disk row: load left, temperature right."""
        indexes = sorted(self._gpu_indexes())
        for position, index in enumerate(indexes):
            for column, key in enumerate((f"gpu.{index}", f"gpu.{index}.thermal")):
                chart = self.charts[key]
                self._gpu_band.removeWidget(chart)
                self._gpu_band.addWidget(chart, 1 + position, column)
        for column in range(2):
            self._gpu_band.setColumnStretch(column, 1)
        self._bands.setStretch(1, max(1, len(indexes)))

    def _gpu_indexes(self) -> set[int]:
        """The GPUs that have charts."""
        return {int(key.split(".")[1]) for key in self.charts if key.startswith("gpu.")}

    def _show_gpu_note(self) -> None:
        if self._gpu_indexes():
            self.gpu_note.hide()
            return
        if self._machine is not None and self._machine not in self._remote_latest:
            reason = f"No figures from {self._machine}'s agentic-server yet"
        elif self._machine is not None:
            reason = f"{self._machine}'s agentic-server reports no NVIDIA GPU"
        else:
            reason = self._backend.metrics.gpu_unavailable or "No GPU reported by NVML"
        self.gpu_note.setText(f"<b>GPU</b> — {reason}.")
        self.gpu_note.setToolTip("A chart per GPU appears here as soon as one reports figures.")
        self.gpu_note.show()

    # -- data --

    def _core_series(self) -> list[str]:
        return [name for name in self._backend.metrics.metric_names() if name.startswith("cpu.core.")]

    def _history_gpus(self) -> list[int]:
        if self._machine is not None:
            points = self._remote_points.get(self._machine, ())
            names: Iterable[str] = {name for _, values in points for name in values}
        else:
            names = self._backend.metrics.metric_names()
        return sorted({int(match[1]) for name in names if (match := GPU_SERIES.fullmatch(name))})

    def _interval(self) -> float:
        """Seconds between the shown machine's samples."""
        return REMOTE_EVERY_S if self._machine is not None else self._backend.metrics.interval

    def _shown_latest(self) -> SystemSample | None:
        return self._latest if self._machine is None else self._remote_latest.get(self._machine)

    def _fill(self, chart: LiveChart) -> None:
        if self._machine is not None:
            points = self._remote_points.get(self._machine, ())
            newest = points[-1][0] if points else 0.0
            shown = [(stamp, values) for stamp, values in points if stamp >= newest - self._window]
            for series in chart.curves:
                chart.fill(series, ((stamp, values.get(series)) for stamp, values in shown))
            return
        for series in chart.curves:
            try:
                history = self._backend.metrics.history(series, self._window)
            except FieldError:  # no such series yet (no sample, or that GPU/core not seen)
                history = []
            chart.fill(series, ((stamp.timestamp(), value) for stamp, value in history))

    def _refill(self) -> None:
        """Read every chart again from the history (on show and when the window changes)."""
        for index in self._history_gpus():
            if f"gpu.{index}" not in self.charts:
                self._add_gpu_chart(index)
        for chart in self.charts.values():
            chart.set_window(self._window, self._interval())
            self._fill(chart)
        newest = max((stamp for chart in self.charts.values() if (stamp := chart.newest())), default=None)
        if newest is not None:
            self._redraw(newest)
        latest = self._shown_latest()
        if latest is not None:
            self._show_values(latest)

    def _redraw(self, now: float) -> None:
        for chart in self.charts.values():
            chart.redraw(now, self._window)

    # -- current values --

    def _say_live(self) -> None:
        every = f"{self._interval():g} s"
        where = " · a sample" if self._machine is None else f" from {self._machine} ·"
        state = "Paused while hidden" if self._paused else f"Live{where} every {every}"
        self.live_label.setText(state)

    def _set(self, key: str, html: str) -> None:
        label = self.value_labels.get(key)
        if label is not None:
            label.setText(html)

    def _show_values(self, sample: SystemSample) -> None:
        system = sample.system
        where = "" if self._machine is None else f"{self._machine} · "
        self.header.subtitle.setText(
            f"{where}{system.hostname} · {system.platform} · up {system.uptime.formatted}"
        )
        if not self.charts:
            return
        cpu = sample.cpu
        self._set("cpu.usage_percent", dot(ACCENT, "Total", percent(cpu.usage_percent)))
        facts = [f"{len(cpu.per_core_percent)} cores"]
        if cpu.frequency_ghz.current:
            facts.append(f"{cpu.frequency_ghz.current:.2f} GHz")
        if cpu.temperature_celsius is not None:
            facts.append(f"{cpu.temperature_celsius:.0f} °C")
        load = sample.load_average
        facts.append(f"load {load.one:.2f} · {load.five:.2f} · {load.fifteen:.2f}")
        self._set("cpu", " · ".join(facts))
        if self.core_bars is not None:
            self.core_bars.set_values(cpu.per_core_percent)

        memory, swap = sample.memory, sample.swap
        self._set("memory.usage_percent", dot(ACCENT, "Memory", percent(memory.usage_percent)))
        self._set("swap.usage_percent", dot(SECOND, "Swap", percent(swap.usage_percent)))
        self._set(
            "memory",
            f"{memory.used_gb:.1f} of {memory.total_gb:.1f} GB used · {memory.available_gb:.1f} GB available"
            + (f" · swap {swap.used_gb:.1f} of {swap.total_gb:.1f} GB" if swap.total_gb else " · no swap"),
        )

        speeds = sample.network.speeds
        self._set("network.recv_bytes_per_sec", dot(ACCENT, "Receive", rate(speeds.bytes_recv_per_sec)))
        self._set("network.sent_bytes_per_sec", dot(SECOND, "Transmit", rate(speeds.bytes_sent_per_sec)))
        network = sample.network
        up = sum(1 for nic in network.interfaces if nic.isup and nic.name != "lo")
        self._set(
            "network",
            f"{network.total_received_mb / 1024:.1f} GB received · "
            f"{network.total_transmitted_mb / 1024:.1f} GB sent since boot · "
            f"{up} interface{'s' if up != 1 else ''} up",
        )

        disk = sample.disk
        self._set("disk.read_bytes_per_sec", dot(ACCENT, "Read", rate(disk.speeds.read_bytes_per_sec)))
        self._set("disk.write_bytes_per_sec", dot(SECOND, "Write", rate(disk.speeds.write_bytes_per_sec)))
        self._set(
            "disk",
            f"{disk.path}: {disk.usage.used_gb:.0f} of {disk.usage.total_gb:.0f} GB used "
            f"({disk.usage.usage_percent:.0f} %)",
        )
        for gpu in sample.gpu:
            self._show_gpu(gpu)

    def _show_gpu(self, gpu: GpuMetrics) -> None:
        prefix = f"gpu.{gpu.index}"
        chart = self.charts.get(prefix)
        if chart is None:
            return
        chart.title.setText(gpu_title(gpu.index, gpu.name))
        chart.title.setToolTip(f"GPU {gpu.index}: {gpu.name}")
        self._set(
            f"{prefix}.utilization_percent", dot(ACCENT, "Utilization", percent(gpu.utilization.gpu_percent))
        )
        self._set(f"{prefix}.memory_percent", dot(SECOND, "Memory", percent(gpu.utilization.memory_percent)))
        hot = self._backend.metrics.thresholds.gpu_temperature_c
        temperature = gpu.temperature_celsius
        if temperature is None:
            self._set(f"{prefix}.temperature_c", dot(HOT, "Temp", "—"))
        else:
            colour = HOT if temperature >= hot else "#1d2230"
            shown = f"<span style='color:{colour}'>{temperature:.0f} °C</span>"
            self._set(f"{prefix}.temperature_c", dot(HOT, "Temp", shown))
        power = gpu.power
        watts = "—" if power.usage_watts is None else f"{power.usage_watts:.0f} W"
        self._set(f"{prefix}.power_watts", dot(THIRD, "Power", watts))
        limits = [f"alert at {hot:.0f} °C"]
        if power.limit_watts:
            limits.append(f"power limit {power.limit_watts:.0f} W")
        self._set(f"{prefix}.thermal", " · ".join(limits))
        facts = []
        if gpu.memory.used_mb is not None and gpu.memory.total_mb:
            facts.append(f"{gpu.memory.used_mb / 1024:.1f} of {gpu.memory.total_mb / 1024:.1f} GB memory")
        if gpu.clocks.graphics_mhz:
            facts.append(f"{gpu.clocks.graphics_mhz:.0f} MHz")
        if gpu.fan_percent is not None:
            facts.append(f"fan {gpu.fan_percent:.0f} %")
        facts.append(f"{len(gpu.processes)} process{'es' if len(gpu.processes) != 1 else ''}")
        self._set(prefix, " · ".join(facts))
