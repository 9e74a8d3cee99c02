"""Chat panel: sessions, the conversation with replies streaming in, per-reply metrics and a
tokens/s history, and the agent creation wizard with its live draft."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agentic_desktop import background, dialogs
from agentic_desktop.background import async_slot
from agentic_desktop.panels.chat_draft import DraftPane
from agentic_desktop.panels.hosts_table import fill_model_picker, picked_model, relabel_model_picker
from agentic_desktop.widgets.chat_view import ChatView, describe_metrics
from agentic_desktop.widgets.header import PanelHeader
from agentic_desktop.widgets.sparkline import Sparkline
from server.services.chat_models import (
    ChatSend,
    ChatSessionDraft,
    ChatSessionPatch,
    ReplyDone,
    ReplyToken,
    WizardDraft,
    WizardProgress,
)
from server.services.errors import AgenticError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from PySide6.QtGui import QResizeEvent

    from agentic_desktop.bridge import BusBridge
    from server.backend import Backend
    from server.events import ChatSessionChanged
    from server.services.chat_models import ChatMessage, ChatReply, ChatSession

SESSION_ROLE = Qt.ItemDataRole.UserRole
FILTERS = {"All sessions": None, "Chats": "general", "Agent wizards": "agent_creation"}
TYPE_COLOURS = {"general": "#4f7cff", "agent_creation": "#9b59d0"}
HISTORY = 20  # replies in the tokens/s chart
DRAFT_REQUEST = "Please draft the agent now from what you know."


def _dot(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawEllipse(2, 2, 8, 8)
    painter.end()
    return QIcon(pixmap)


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow (the full text is the tooltip)."""

    def __init__(self) -> None:
        super().__init__()
        self._full = ""
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        """Show ``text``, elided to the width."""
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        """The text before eliding."""
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Elide again for the new width."""
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        elided = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(10, self.width()))
        super().setText(elided)


class ChatPanel(QWidget):
    """Chat sessions and the agent wizard."""

    agent_created = Signal(object)

    def __init__(self, backend: Backend, bridge: BusBridge) -> None:
        super().__init__()
        self._backend = backend
        self._sessions: dict[str, ChatSession] = {}
        self._current: ChatSession | None = None
        self._loaded_at: datetime | None = None
        self._loading: asyncio.Task[Any] | None = None
        self._streaming: asyncio.Task[Any] | None = None
        self._filling = False
        self._deleted: set[str] = set()
        self._icons = {kind: _dot(colour) for kind, colour in TYPE_COLOURS.items()}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 16)
        layout.addWidget(
            PanelHeader("Chat", "Talk to your models, and build new agents with the creation wizard.")
        )
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(self._build_sessions())
        split.addWidget(self._build_conversation())
        self.draft_pane = DraftPane()
        self.draft_pane.setMinimumWidth(230)
        self.draft_pane.hide()
        split.addWidget(self.draft_pane)
        split.setStretchFactor(1, 1)
        split.setSizes([190, 560, 250])
        layout.addWidget(split, 1)

        self.draft_pane.create_button.clicked.connect(self.on_create_agent_clicked)
        self.draft_pane.draft_button.clicked.connect(self.on_draft_now_clicked)
        bridge.chat_session_changed.connect(self.on_chat_session_changed)
        bridge.host_state_changed.connect(self.on_host_state_changed)
        QShortcut(
            QKeySequence("Ctrl+Return"),
            self.input,
            self.on_send_clicked,
            context=Qt.ShortcutContext.WidgetShortcut,
        )
        QShortcut(
            QKeySequence("Escape"),
            self,
            self.on_stop_clicked,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self._show_session(None)
        self.schedule_refresh()

    # -- layout --

    def _build_sessions(self) -> QWidget:
        side = QWidget()
        side.setMinimumWidth(200)
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 6, 0)
        buttons = QHBoxLayout()
        self.new_chat_button = QPushButton("New chat")
        self.new_chat_button.setObjectName("primary")
        self.new_agent_button = QPushButton("New agent")
        self.new_agent_button.setToolTip("Start the agent creation wizard")
        menu = QMenu(self.new_agent_button)
        for template in self._backend.chat.templates():
            if template.session_type == "agent_creation":
                action = menu.addAction(template.name)
                action.setToolTip(template.description)
                action.triggered.connect(
                    lambda _checked=False, t=template.id, n=template.name: self.on_new_wizard(t, n)
                )
        self.new_agent_button.setMenu(menu)
        buttons.addWidget(self.new_chat_button)
        buttons.addWidget(self.new_agent_button)
        column.addLayout(buttons)
        self.kind_filter = QComboBox()
        self.kind_filter.addItems(list(FILTERS))
        column.addWidget(self.kind_filter)
        self.session_list = QListWidget()
        self.session_list.setObjectName("chatSessions")
        self.session_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.session_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.session_list.setUniformItemSizes(True)
        column.addWidget(self.session_list, 1)
        manage = QHBoxLayout()
        self.rename_button = QPushButton("Rename")
        self.delete_button = QPushButton("Delete…")
        manage.addWidget(self.rename_button)
        manage.addWidget(self.delete_button)
        column.addLayout(manage)

        self.new_chat_button.clicked.connect(self.on_new_chat_clicked)
        self.kind_filter.currentTextChanged.connect(self._apply_filter)
        self.session_list.currentItemChanged.connect(self.on_session_selected)
        self.session_list.itemChanged.connect(self.on_item_renamed)
        self.rename_button.clicked.connect(self.on_rename_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        return side

    def _build_conversation(self) -> QWidget:
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(6, 0, 6, 0)
        top = QHBoxLayout()
        self.title = ElidedLabel()
        self.title.setStyleSheet("font-weight: 600; font-size: 15px; color: #1d2230;")
        self.model_picker = QComboBox()
        self.model_picker.setMinimumWidth(150)
        self.model_picker.setToolTip("The model this session talks to (and the hosts that have it)")
        top.addWidget(self.title, 1)
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_picker)
        column.addLayout(top)
        self.view = ChatView()
        column.addWidget(self.view, 1)

        figures = QHBoxLayout()
        self.metrics = ElidedLabel()
        self.metrics.setObjectName("cardDetail")
        self.speed_chart = Sparkline(HISTORY, colour="#1f9d55", stretch=True)
        self.speed_chart.setFixedWidth(120)
        self.speed_chart.setToolTip("Tokens per second of this session's last replies")
        history = QLabel("tokens/s history")
        history.setObjectName("cardDetail")
        figures.addWidget(self.metrics, 1)
        figures.addWidget(history)
        figures.addWidget(self.speed_chart)
        column.addLayout(figures)

        entry = QHBoxLayout()
        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Message… (Ctrl+Enter sends)")
        self.input.setFixedHeight(64)
        actions = QVBoxLayout()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc); what came so far is kept")
        actions.addWidget(self.send_button)
        actions.addWidget(self.stop_button)
        entry.addWidget(self.input, 1)
        entry.addLayout(actions)
        column.addLayout(entry)

        bottom = QHBoxLayout()
        self.message = QLabel()
        self.message.setObjectName("cardDetail")
        self.message.setWordWrap(True)
        self.copy_button = QPushButton("Copy last reply")
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.copy_button)
        column.addLayout(bottom)

        self.send_button.clicked.connect(self.on_send_clicked)
        self.stop_button.clicked.connect(self.on_stop_clicked)
        self.copy_button.clicked.connect(self.on_copy_clicked)
        self.model_picker.activated.connect(self.on_model_picked)
        self.view.copied.connect(lambda _text: self.say("Copied to the clipboard."))
        return centre

    # -- loading --

    def schedule_refresh(self) -> None:
        """Reload the sessions and the models in the background."""
        self._loading = background.restart(self._loading, self.refresh(), name="chat-refresh")

    async def refresh(self) -> None:
        """Load the session list and the models that can chat."""
        try:
            sessions = await self._backend.chat.list_sessions(limit=500)
        except AgenticError as exc:
            self.say(f"Could not load the chat sessions: {exc}", error=True)
            return
        self._fill_sessions(sessions)
        await self._load_models()

    async def _load_models(self) -> None:
        try:
            models = await self._backend.chat.models()
        except AgenticError as exc:
            self.say(f"Could not list the models: {exc}", error=True)
            return
        current = picked_model(self.model_picker)
        wanted = self._current.model_name if self._current else current or models.default_model
        fill_model_picker(self.model_picker, models.models, self._backend.router.views(), wanted)

    @Slot(object)
    def on_host_state_changed(self, _event: object) -> None:
        """Name the hosts that have each model again (one went down, came back, or was added)."""
        relabel_model_picker(self.model_picker, self._backend.router.views())

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Change the list without it opening sessions or saving titles."""
        blocked = self.session_list.blockSignals(True)
        filling, self._filling = self._filling, True
        try:
            yield
        finally:
            self._filling = filling
            self.session_list.blockSignals(blocked)

    def _fill_sessions(self, sessions: list[ChatSession]) -> None:
        """Merge a fresh listing with what events brought meanwhile (the newer copy wins; deleted
        sessions stay deleted), most recently active first."""
        for chat in sessions:
            known = self._sessions.get(chat.id)
            if chat.id not in self._deleted and (known is None or known.updated_at <= chat.updated_at):
                self._sessions[chat.id] = chat
        ordered = sorted(self._sessions.values(), key=lambda chat: chat.updated_at, reverse=True)
        current = self._current.id if self._current else None
        with self._quiet():
            self.session_list.clear()
            for chat in ordered:
                self._upsert_item(chat)
            if current is not None and (item := self._item(current)) is not None:
                self.session_list.setCurrentItem(item)
        self._apply_filter()

    def _upsert_item(self, chat: ChatSession, *, to_top: bool = False) -> None:
        self._sessions[chat.id] = chat
        item = self._item(chat.id)
        with self._quiet():
            if item is None:
                item = QListWidgetItem()
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.session_list.insertItem(0 if to_top else self.session_list.count(), item)
            elif to_top and self.session_list.row(item) > 0:
                selected = self.session_list.currentItem() is item
                self.session_list.takeItem(self.session_list.row(item))
                self.session_list.insertItem(0, item)
                if selected:
                    self.session_list.setCurrentItem(item)
            item.setText(chat.title)
            item.setIcon(self._icons[chat.session_type])
            item.setData(SESSION_ROLE, chat.id)
            kind = "Agent wizard" if chat.session_type == "agent_creation" else "Chat"
            item.setToolTip(f"{kind} · {chat.model_name} · {chat.status}")

    def _item(self, session_id: str) -> QListWidgetItem | None:
        for row in range(self.session_list.count()):
            item = self.session_list.item(row)
            if item.data(SESSION_ROLE) == session_id:
                return item
        return None

    @Slot()
    def _apply_filter(self) -> None:
        kind = FILTERS.get(self.kind_filter.currentText())
        for row in range(self.session_list.count()):
            item = self.session_list.item(row)
            chat = self._sessions.get(item.data(SESSION_ROLE))
            item.setHidden(kind is not None and chat is not None and chat.session_type != kind)

    def select_session(self, session_id: str) -> None:
        """Select ``session_id`` in the list (which opens it)."""
        item = self._item(session_id)
        if item is not None:
            self.session_list.setCurrentItem(item)

    @Slot(object, object)
    def on_session_selected(self, current: QListWidgetItem | None, _previous: object = None) -> None:
        """Open the selected session."""
        session_id = current.data(SESSION_ROLE) if current is not None else None
        chat = self._sessions.get(session_id) if session_id else None
        if self._current is not None and chat is not None and chat.id == self._current.id:
            return
        self._show_session(chat)
        if chat is not None:
            self._loading = background.restart(
                self._loading, self._load_messages(chat.id), name="chat-messages"
            )

    def _show_session(self, chat: ChatSession | None) -> None:
        self._current = chat
        self._loaded_at = None
        self.view.clear_messages()
        self.speed_chart.set_values([])
        self.metrics.setText("")
        self.title.setText(chat.title if chat else "No session selected")
        wizard = chat is not None and chat.session_type == "agent_creation"
        self.draft_pane.setVisible(wizard)
        if wizard:
            assert chat is not None
            self._show_draft(chat)
        if chat is not None and self.model_picker.findData(chat.model_name) >= 0:
            self.model_picker.setCurrentIndex(self.model_picker.findData(chat.model_name))
        self._update_buttons()
        if chat is None:
            self.view.setPlaceholderText("Start a chat with New chat, or build an agent with New agent.")

    def _show_draft(self, chat: ChatSession) -> None:
        draft = WizardDraft.model_validate(chat.draft) if chat.draft else None
        self.draft_pane.show_draft(draft, agent_id=chat.agent_id)

    async def _load_messages(self, session_id: str) -> None:
        try:
            messages = await self._backend.chat.messages(session_id)
        except AgenticError as exc:
            self.say(f"Could not load the conversation: {exc}", error=True)
            return
        if self._current is None or self._current.id != session_id or self.view.streaming:
            return
        self.view.clear_messages()
        for message in messages:
            self._render(message)
        speeds = [
            m.performance_metrics["tokens_per_second"]
            for m in messages
            if m.performance_metrics and m.performance_metrics.get("response_tokens")
        ]
        self.speed_chart.set_values(speeds[-HISTORY:])
        last = next((m for m in reversed(messages) if m.performance_metrics), None)
        self.metrics.setText(describe_metrics(last.performance_metrics) if last else "")
        self._loaded_at = self._current.updated_at

    def _render(self, message: ChatMessage) -> None:
        interrupted = message.metadata.get("interrupted")
        note = (
            "Stopped" if interrupted == "stopped" else (f"Interrupted: {interrupted}" if interrupted else "")
        )
        self.view.add_message(
            message.role,
            message.content,
            model=message.model if message.role == "assistant" else None,
            metrics=message.performance_metrics,
            note=note,
            at=message.created_at.astimezone(),
        )

    # -- events --

    @Slot(object)
    def on_chat_session_changed(self, event: ChatSessionChanged) -> None:
        """Keep the list (and the open session) in step with changes made anywhere."""
        chat = event.session
        if event.deleted:
            self._deleted.add(chat.id)
            self._sessions.pop(chat.id, None)
            item = self._item(chat.id)
            if item is not None:
                self.session_list.takeItem(self.session_list.row(item))
            if self._current is not None and self._current.id == chat.id:
                self._show_session(None)
            return
        known = chat.id in self._sessions
        self._upsert_item(chat, to_top=True)
        self._apply_filter()
        if self._current is None or self._current.id != chat.id:
            return
        self._current = chat
        self.title.setText(chat.title)
        if chat.session_type == "agent_creation":
            self._show_draft(chat)
        self._update_buttons()
        newer = self._loaded_at is not None and chat.updated_at > self._loaded_at
        if known and newer and not self.view.streaming and self._streaming is None:
            self._loading = background.restart(
                self._loading, self._load_messages(chat.id), name="chat-messages"
            )

    # -- actions --

    def say(self, text: str, *, error: bool = False) -> None:
        """Show a line under the conversation (red for failures)."""
        self.message.setStyleSheet("color: #d64545;" if error else "")
        self.message.setText(text)

    def _update_buttons(self) -> None:
        busy = self._streaming is not None
        chosen = self._current is not None
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.rename_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen and not busy)
        self.copy_button.setEnabled(any(m.role == "assistant" for m in self.view.messages))

    async def _create(self, draft: ChatSessionDraft) -> ChatSession | None:
        try:
            chat = await self._backend.chat.create_session(draft)
        except AgenticError as exc:
            self.say(f"Could not start the session: {exc}", error=True)
            return None
        self._upsert_item(chat, to_top=True)
        self._apply_filter()
        self.select_session(chat.id)
        return chat

    def _picked_model(self) -> str | None:
        return picked_model(self.model_picker)

    @async_slot()
    async def on_new_chat_clicked(self) -> None:
        """Start a general chat on the picked model."""
        self.new_chat_button.setEnabled(False)
        try:
            await self._create(ChatSessionDraft(session_type="general", model_name=self._picked_model()))
        finally:
            self.new_chat_button.setEnabled(True)

    async def new_wizard(self, template: str, name: str) -> ChatSession | None:
        """Start an agent creation wizard from ``template``."""
        self.kind_filter.setCurrentText("All sessions")
        return await self._create(
            ChatSessionDraft(
                session_type="agent_creation",
                model_name=self._picked_model(),
                title=name,
                config={"template": template},
            )
        )

    def on_new_wizard(self, template: str, name: str) -> None:
        """Menu entry: start the wizard ``template``."""
        background.start(self.new_wizard(template, name), name="chat-new-wizard")

    @Slot()
    def on_rename_clicked(self) -> None:
        """Edit the selected session's title in place."""
        item = self.session_list.currentItem()
        if item is not None:
            self.session_list.editItem(item)

    @Slot(object)
    def on_item_renamed(self, item: QListWidgetItem) -> None:
        """Save a title edited in the list."""
        if self._filling:
            return
        chat = self._sessions.get(item.data(SESSION_ROLE))
        title = item.text().strip()
        if chat is None or title == chat.title:
            return
        if not title:
            self._upsert_item(chat)
            return
        background.start(self._rename(chat.id, title), name="chat-rename")

    async def _rename(self, session_id: str, title: str) -> None:
        try:
            await self._backend.chat.update_session(session_id, ChatSessionPatch(title=title[:200]))
        except AgenticError as exc:
            self.say(f"Could not rename the session: {exc}", error=True)

    async def confirm(self, title: str, text: str) -> bool:
        """Ask before something destructive (tests answer for the operator)."""
        return await dialogs.confirm(self, title, text, yes_text="Delete")

    @async_slot()
    async def on_delete_clicked(self) -> None:
        """Delete the selected session after confirmation."""
        chat = self._current
        if chat is None:
            return
        if not await self.confirm("Delete chat session", f"Delete '{chat.title}' and all its messages?"):
            return
        try:
            await self._backend.chat.delete_session(chat.id)
        except AgenticError as exc:
            self.say(f"Could not delete '{chat.title}': {exc}", error=True)

    @async_slot(int)
    async def on_model_picked(self, _index: int) -> None:
        """Use the picked model for the open session from now on."""
        model = self._picked_model()
        if self._current is None or model is None or model == self._current.model_name:
            return
        try:
            await self._backend.chat.update_session(self._current.id, ChatSessionPatch(model_name=model))
        except AgenticError as exc:
            self.say(f"Could not switch to {model}: {exc}", error=True)
            return
        self.say(f"This session now uses {model}.")

    @Slot()
    def on_copy_clicked(self) -> None:
        """Copy the last reply (its Markdown) to the clipboard."""
        replies = [m for m in self.view.messages if m.role == "assistant"]
        if replies:
            self.view.copy_message(replies[-1])

    @async_slot()
    async def on_send_clicked(self) -> None:
        """Send the typed message and stream the reply into the conversation."""
        text = self.input.toPlainText().strip()
        if not text or self._streaming is not None:
            return
        await self.send(text)

    async def send(self, text: str, metadata: dict[str, Any] | None = None) -> None:
        """Send ``text`` (creating a chat first when none is open) and stream the reply."""
        if self._current is None:
            self.send_button.setEnabled(False)
            chat = await self._create(
                ChatSessionDraft(session_type="general", model_name=self._picked_model())
            )
            if chat is None:
                self._update_buttons()
                return
        assert self._current is not None
        self.input.clear()
        self._streaming = background.start(
            self._stream(self._current, text, metadata or {}), name="chat-stream"
        )
        self._update_buttons()

    async def start_chat(self, title: str, text: str, metadata: dict[str, Any] | None = None) -> None:
        """Open a new general session titled ``title`` and send ``text`` as its first message (how
        the Knowledge panel's "Ask" hands over a question with its retrieved context)."""
        if self._streaming is not None:
            self.say("A reply is still being generated: stop it or wait, then ask again.", error=True)
            return
        self.kind_filter.setCurrentText("All sessions")
        chat = await self._create(
            ChatSessionDraft(session_type="general", model_name=self._picked_model(), title=title[:200])
        )
        if chat is not None:
            await self.send(text, metadata)

    @Slot()
    def on_stop_clicked(self) -> None:
        """Stop the reply being generated (the request to Ollama is closed)."""
        if self._streaming is not None:
            self._streaming.cancel()

    async def _stream(self, chat: ChatSession, text: str, metadata: dict[str, Any]) -> None:
        self.say("")
        self.view.add_message("user", text)
        self.view.begin_reply(chat.model_name)
        self.metrics.setText(f"{chat.model_name} is answering…")
        events = self._backend.chat.stream(chat.id, ChatSend(message=text, metadata=metadata))
        try:
            async for event in events:
                if isinstance(event, ReplyToken):
                    self.view.append_tokens(event.text)
                elif isinstance(event, WizardProgress):
                    self.draft_pane.show_progress(event.message)
                elif isinstance(event, ReplyDone):
                    self._finish(event.reply)
        except AgenticError as exc:
            streamed = self.view.streamed_text()
            self.view.end_reply(streamed or "*No reply.*", note="Failed")
            if not streamed:
                self.input.setPlainText(text)
            self.say(f"The reply failed: {exc}", error=True)
        except asyncio.CancelledError:
            self.view.end_reply(
                self.view.streamed_text() or "*Stopped before the first word.*", note="Stopped"
            )
            self.say("Stopped; what came so far is kept.")
            raise
        finally:
            await events.aclose()  # type: ignore[attr-defined]
            self._streaming = None
            if self._current is not None and self._current.id == chat.id:
                self._loaded_at = max(self._loaded_at or self._current.updated_at, self._current.updated_at)
            self._update_buttons()

    def _finish(self, reply: ChatReply) -> None:
        metrics = reply.performance_metrics.model_dump()
        self.view.end_reply(reply.response, metrics)
        self.metrics.setText(describe_metrics(metrics))
        if reply.performance_metrics.response_tokens:
            self.speed_chart.add(reply.performance_metrics.tokens_per_second)
        if reply.draft is not None and self._current is not None:
            self.draft_pane.show_draft(reply.draft, agent_id=self._current.agent_id)
        if self._current is not None and self._current.id == reply.session_id:
            self._loaded_at = reply.message.created_at

    @async_slot()
    async def on_draft_now_clicked(self) -> None:
        """Ask the wizard for a draft now."""
        if self._streaming is None and self._current is not None:
            await self.send(DRAFT_REQUEST, {"wizard": "draft"})

    @async_slot()
    async def on_create_agent_clicked(self) -> None:
        """Create the drafted agent, then show it in the Agents panel."""
        chat = self._current
        if chat is None:
            return
        self.draft_pane.create_button.setEnabled(False)
        try:
            _, agent = await self._backend.chat.finalize(chat.id)
        except AgenticError as exc:
            self.say(f"Could not create the agent: {exc}", error=True)
            self._show_draft(self._current or chat)
            return
        secrets = [str(item["key"]) for item in agent.config.get("required_secrets", [])]
        hint = f" Store its secrets in the Secrets panel: {', '.join(secrets)}." if secrets else ""
        self.say(f"Created agent '{agent.name}'.{hint}")
        self.agent_created.emit(agent)
