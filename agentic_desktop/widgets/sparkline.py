"""A tiny line chart of the last few values, drawn with QPainter (cheap enough for every dashboard card)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

if TYPE_CHECKING:
    from collections.abc import Iterable

    from PySide6.QtGui import QPaintEvent

ACCENT = "#4f7cff"
HEIGHT = 36


class Sparkline(QWidget):
    """The last ``capacity`` values as a polyline over a faint fill; ``None`` leaves a gap.

    With ``stretch`` the values kept span the whole width (for a history of events, such as
    replies); without it each value has a fixed slot and a new one enters at the right (for a
    time series sampled at a steady rate).

    With ``value_range`` (e.g. ``(0, 100)`` for percentages) the scale is fixed; without it the
    line spans from zero (or the smallest value, if negative) to the largest value kept.
    """

    def __init__(
        self,
        capacity: int = 60,
        *,
        value_range: tuple[float, float] | None = None,
        colour: str = ACCENT,
        stretch: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._stretch = stretch  # spread the values kept over the whole width (else: one slot each)
        self._values: deque[float | None] = deque(maxlen=max(2, capacity))
        self._range = value_range
        self._colour = QColor(colour)
        self.setFixedHeight(HEIGHT)
        self.setMinimumWidth(60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    # -- data --

    def add(self, value: float | None) -> None:
        """Append one value (the oldest drops out once ``capacity`` are kept); ``None`` is a gap."""
        self._values.append(value)
        self.update()

    def set_values(self, values: Iterable[float | None]) -> None:
        """Replace everything with ``values`` (only the last ``capacity`` are kept)."""
        self._values.clear()
        self._values.extend(values)
        self.update()

    def values(self) -> list[float | None]:
        """The values kept, oldest first."""
        return list(self._values)

    @property
    def capacity(self) -> int:
        """How many values are kept."""
        return self._values.maxlen or 0

    def set_colour(self, colour: str) -> None:
        """Draw in ``colour`` from now on (e.g. red while a threshold is crossed)."""
        self._colour = QColor(colour)
        self.update()

    def sizeHint(self) -> QSize:
        """Wide enough to read a trend, as tall as the fixed height."""
        return QSize(160, HEIGHT)

    # -- drawing --

    def _scale(self) -> tuple[float, float]:
        if self._range is not None:
            return self._range
        known = [value for value in self._values if value is not None]
        low = min([0.0, *known])
        high = max([0.0, *known])
        return (low, high if high > low else low + 1.0)

    def paintEvent(self, _event: QPaintEvent) -> None:
        """Draw each run of known values as a line with a faint fill under it."""
        if len(self._values) < 2:
            return
        low, high = self._scale()
        span = high - low
        pad = 2.0
        width = self.width() - 2 * pad
        height = self.height() - 2 * pad
        bottom = pad + height
        if self._stretch:
            step = width / (len(self._values) - 1)
            first_x = pad
        else:
            step = width / (self.capacity - 1)
            # Right-aligned: the newest value sits at the right edge while the buffer fills up.
            first_x = pad + (self.capacity - len(self._values)) * step

        runs: list[list[QPointF]] = [[]]
        for i, value in enumerate(self._values):
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            clamped = min(max(value, low), high)
            runs[-1].append(QPointF(first_x + i * step, bottom - (clamped - low) / span * height))

        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(self._colour)
        fill.setAlpha(40)
        pen = QPen(self._colour, 1.6)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        for run in runs:
            if not run:
                continue
            if len(run) == 1:  # a lone value between gaps: a dot, so it is not lost
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(self._colour)
                painter.drawEllipse(run[0], 1.5, 1.5)
                continue
            area = QPainterPath(QPointF(run[0].x(), bottom))
            for point in run:
                area.lineTo(point)
            area.lineTo(QPointF(run[-1].x(), bottom))
            area.closeSubpath()
            painter.fillPath(area, fill)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPolyline(run)
        painter.end()
