"""The conversation: one framed block per message, Markdown rendered (code blocks included), a
reply growing as its tokens arrive, and the metrics under each reply.

Streamed tokens are buffered and appended as plain text at most every ``FLUSH_MS`` (one cursor
insert, never a re-render of the document); when the reply is complete only that message is
rendered again, as Markdown.
"""

from __future__ import annotations

import bisect
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextFrameFormat,
)
from PySide6.QtWidgets import QTextBrowser, QWidget

if TYPE_CHECKING:
    from datetime import datetime

    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QTextFrame

FLUSH_MS = 40
# While a reply streams, a paragraph longer than this is continued in a new block: Qt lays out a
# changed block whole, so an ever-growing paragraph would cost more with every flush. The final
# Markdown rendering restores the real paragraphs.
STREAM_BLOCK_CHARS = 600
ROLE_STYLE = {
    "user": ("You", "#4f7cff", "#eef2ff", "#d5defc"),
    "assistant": ("Assistant", "#1d2230", "#ffffff", "#e1e5ee"),
    "system": ("System", "#8a93a6", "#f8f9fc", "#e1e5ee"),
}
MARKDOWN = QTextDocument.MarkdownFeature.MarkdownDialectGitHub


@dataclass
class ShownMessage:
    """A message on screen: where it starts and its raw (Markdown) text, for copying."""

    start: int
    role: str
    content: str


def describe_metrics(metrics: dict[str, Any] | None) -> str:
    """``52.3 tokens/s · 1.84 s · 245 tokens · llama3.2:latest`` (empty without metrics)."""
    if not metrics:
        return ""
    return (
        f"{metrics['tokens_per_second']:.1f} tokens/s · {metrics['response_time_seconds']:.2f} s · "
        f"{metrics['total_tokens']} tokens · {metrics['model_name']}"
    )


class ChatView(QTextBrowser):
    """A read-only, append-only view of one session's messages."""

    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.document().setDocumentMargin(12)
        self.document().setDefaultStyleSheet("pre, code { background: #f3f4f8; }")
        self._messages: list[ShownMessage] = []
        self._reply_frame: QTextFrame | None = None
        self._reply_body = 0
        self._pending: list[str] = []
        self._streamed: list[str] = []
        self._flush = QTimer(self)
        self._flush.setInterval(FLUSH_MS)
        self._flush.timeout.connect(self.flush)

    # -- whole messages --

    def clear_messages(self) -> None:
        """Empty the view."""
        self._flush.stop()
        self._pending.clear()
        self._streamed.clear()
        self._reply_frame = None
        self._messages.clear()
        self.clear()

    def add_message(
        self,
        role: str,
        content: str,
        *,
        model: str | None = None,
        metrics: dict[str, Any] | None = None,
        note: str = "",
        at: datetime | None = None,
    ) -> None:
        """Append a complete message, rendered as Markdown, with its metrics line."""
        frame = self._open_frame(role, model, at)
        self._markdown(frame.lastCursorPosition(), content)
        self._messages[-1].content = content
        self._footer(frame, metrics, note)
        self._scroll_to_end()

    @property
    def messages(self) -> list[ShownMessage]:
        """What is shown, oldest first."""
        return list(self._messages)

    def message_at(self, position: int) -> ShownMessage | None:
        """The message containing document ``position``."""
        index = bisect.bisect_right([m.start for m in self._messages], position) - 1
        return self._messages[index] if index >= 0 else None

    def copy_message(self, message: ShownMessage) -> None:
        """Put a message's text (its Markdown) on the clipboard."""
        QGuiApplication.clipboard().setText(message.content)
        self.copied.emit(message.content)

    # -- a reply as it streams --

    def begin_reply(self, model: str | None) -> None:
        """Open the frame the next tokens go into."""
        self._reply_frame = self._open_frame("assistant", model, None)
        self._reply_body = self._reply_frame.lastPosition()
        self._streamed = []
        self._pending = []
        self._flush.start()
        self._scroll_to_end()

    def append_tokens(self, text: str) -> None:
        """Queue streamed text; it reaches the screen with the next flush."""
        self._pending.append(text)
        self._streamed.append(text)

    @property
    def streaming(self) -> bool:
        """Whether a reply is open."""
        return self._reply_frame is not None

    def streamed_text(self) -> str:
        """The reply so far."""
        return "".join(self._streamed)

    def flush(self) -> None:
        """Append what arrived since the last flush (one insert at the end of the reply)."""
        if not self._pending or self._reply_frame is None:
            return
        text, self._pending = "".join(self._pending), []
        at_bottom = self._at_bottom()
        cursor = self._reply_frame.lastCursorPosition()
        if cursor.block().length() > STREAM_BLOCK_CHARS:
            cursor.insertBlock()
        cursor.insertText(text, QTextCharFormat())
        self._messages[-1].content += text
        if at_bottom:
            self._scroll_to_end()

    def end_reply(self, content: str, metrics: dict[str, Any] | None = None, note: str = "") -> None:
        """Replace the streamed text with ``content`` rendered as Markdown; add the metrics line."""
        frame = self._reply_frame
        self._flush.stop()
        self._pending.clear()
        self._streamed.clear()
        self._reply_frame = None
        if frame is None:
            return
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._reply_body)
        cursor.setPosition(frame.lastPosition(), QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._markdown(cursor, content)
        self._messages[-1].content = content
        self._footer(frame, metrics, note)
        self._scroll_to_end()

    # -- drawing --

    def _open_frame(self, role: str, model: str | None, at: datetime | None) -> QTextFrame:
        label, colour, background, border = ROLE_STYLE.get(role, ROLE_STYLE["system"])
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        start = cursor.position()
        frame_format = QTextFrameFormat()
        frame_format.setBackground(QColor(background))
        frame_format.setBorder(1)
        frame_format.setBorderBrush(QColor(border))
        frame_format.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
        frame_format.setPadding(8)
        frame_format.setMargin(4)
        if role == "user":
            frame_format.setLeftMargin(60)
        else:
            frame_format.setRightMargin(60)
        frame = cursor.insertFrame(frame_format)
        heading = f"<b style='color:{colour}'>{label}</b>"
        details = " · ".join(part for part in (model, at.strftime("%H:%M") if at else None) if part)
        if details:
            heading += f" <span style='color:#8a93a6'>{html.escape(details)}</span>"
        inner = frame.firstCursorPosition()
        inner.insertHtml(heading)
        inner.insertBlock()
        inner.setCharFormat(QTextCharFormat())
        self._messages.append(ShownMessage(start=start, role=role, content=""))
        return frame

    def _markdown(self, cursor: QTextCursor, content: str) -> None:
        """Insert ``content`` as Markdown at ``cursor``; code blocks get a tinted background."""
        start = cursor.position()
        cursor.insertMarkdown(content or " ", MARKDOWN)
        block = self.document().findBlock(start)
        while block.isValid() and block.position() <= cursor.position():
            block_format = block.blockFormat()
            if (
                block_format.hasProperty(QTextFormat.Property.BlockCodeFence)
                or block_format.nonBreakableLines()
            ):
                block_format.setBackground(QColor("#f3f4f8"))
                block_format.setLeftMargin(6)
                code = QTextCursor(block)
                code.setBlockFormat(block_format)
            block = block.next()

    def _footer(self, frame: QTextFrame, metrics: dict[str, Any] | None, note: str) -> None:
        line = " · ".join(part for part in (describe_metrics(metrics), note) if part)
        if not line:
            return
        cursor = frame.lastCursorPosition()
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        cursor.insertHtml(f"<span style='color:#8a93a6; font-size:small'>{html.escape(line)}</span>")

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _menu(self, point: QPoint) -> None:
        menu = self.createStandardContextMenu()
        message = self.message_at(self.cursorForPosition(point).position())
        if message is not None:
            action = QAction("Copy message", menu)
            action.triggered.connect(lambda: self.copy_message(message))
            menu.insertAction(menu.actions()[0] if menu.actions() else None, action)
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(self.mapToGlobal(point))
