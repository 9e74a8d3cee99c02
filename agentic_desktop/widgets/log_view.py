"""A live log view that keeps up with bursts: level filter, search, and batched appends."""

from __future__ import annotations

import html
from collections import deque
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from server.services.logs import LEVELS, levels_from

if TYPE_CHECKING:
    from collections.abc import Iterable

    from server.services.logs import LogEntry

KEEP = 5000
# Lines drawn per pass: about 2 ms of work, so a burst of thousands never holds the loop.
CHUNK = 100
LEVEL_COLOURS = {"debug": "#8a93a6", "info": "#3b4357", "warning": "#b7791f", "error": "#d64545"}


def render(entry: LogEntry) -> str:
    """One entry as a line of HTML."""
    stamp = entry.timestamp.astimezone().strftime("%H:%M:%S")
    colour = LEVEL_COLOURS.get(entry.level, "#3b4357")
    return (
        f'<span style="color:#8a93a6">{stamp}</span> '
        f'<span style="color:{colour};font-weight:600">{entry.level.upper():7}</span> '
        f'<span style="color:#5b6478">[{html.escape(entry.source)}]</span> {html.escape(entry.message)}'
    )


class LogView(QWidget):
    """The last ``KEEP`` entries; new ones are drawn a chunk at a time between other events."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: deque[LogEntry] = deque(maxlen=KEEP)
        self._to_draw: deque[LogEntry] = deque(maxlen=KEEP)
        self._task_id: str | None = None
        self._drawer = QTimer(self)
        self._drawer.setSingleShot(True)
        self._drawer.setInterval(0)
        self._drawer.timeout.connect(self._draw_chunk)
        self.level = QComboBox()
        self.level.addItems(
            [f"{level.capitalize()} and above" if level != "error" else "Errors only" for level in LEVELS]
        )
        self.level.setCurrentIndex(1)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the log…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(160)
        self.only_task = QCheckBox("Selected task only")
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.clear_button = QPushButton("Clear")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(KEEP)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.document().setDefaultFont(QFont(self.text.font()))
        tools = QHBoxLayout()
        tools.setContentsMargins(0, 0, 0, 0)
        tools.addWidget(self.level)
        tools.addWidget(self.search, 1)
        tools.addWidget(self.only_task)
        tools.addWidget(self.follow)
        tools.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(tools)
        layout.addWidget(self.text, 1)
        self.level.currentIndexChanged.connect(self.rerender)
        self.search.textChanged.connect(self.rerender)
        self.only_task.toggled.connect(self.rerender)
        self.clear_button.clicked.connect(self.clear)

    def _wanted(self, entry: LogEntry) -> bool:
        if entry.level not in levels_from(LEVELS[self.level.currentIndex()]):
            return False
        if self.only_task.isChecked() and entry.task_id != self._task_id:
            return False
        needle = self.search.text().strip().lower()
        return not needle or needle in entry.message.lower() or needle in entry.source.lower()

    def add(self, entries: Iterable[LogEntry]) -> None:
        """Queue a batch of entries for drawing."""
        batch = list(entries)
        self._entries.extend(batch)
        self._to_draw.extend(entry for entry in batch if self._wanted(entry))
        if self._to_draw and not self._drawer.isActive():
            self._drawer.start()

    @Slot()
    def _draw_chunk(self) -> None:
        chunk = [render(self._to_draw.popleft()) for _ in range(min(CHUNK, len(self._to_draw)))]
        if chunk:
            bar = self.text.verticalScrollBar()
            at_end = bar.value() >= bar.maximum() - 4
            self.text.appendHtml("".join(f"<p>{line}</p>" for line in chunk))
            if self.follow.isChecked() and at_end:
                bar.setValue(bar.maximum())
        if self._to_draw:
            self._drawer.start()

    def pending(self) -> int:
        """Entries waiting to be drawn."""
        return len(self._to_draw)

    def set_task(self, task_id: str | None) -> None:
        """The task 'Selected task only' shows."""
        self._task_id = task_id
        if self.only_task.isChecked():
            self.rerender()

    @Slot()
    def rerender(self) -> None:
        """Show the kept entries again under the current filters."""
        self.text.clear()
        self._to_draw.clear()
        self._to_draw.extend(entry for entry in self._entries if self._wanted(entry))
        if self._to_draw:
            self._drawer.start()

    @Slot()
    def clear(self) -> None:
        """Forget what is shown."""
        self._entries.clear()
        self._to_draw.clear()
        self.text.clear()

    def visible_text(self) -> str:
        """What the view shows, as plain text."""
        return self.text.toPlainText()
