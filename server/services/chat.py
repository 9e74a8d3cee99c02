"""Chat: sessions and their history, replies streamed from Ollama with performance metrics, the
conversation fitted into the model's context, and the agent wizard for ``agent_creation`` sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from server.bus import utcnow
from server.db.base import new_id
from server.db.models import ChatMessageRow, ChatSessionRow
from server.events import ChatSessionChanged
from server.services import chat_templates, wizard
from server.services.agents import PASSTHROUGH_OPTIONS
from server.services.chat_models import (
    ChatMessage,
    ChatModels,
    ChatReply,
    ChatSession,
    ChatStats,
    ChatTemplate,
    MarkerFilter,
    ReplyDone,
    ReplyToken,
    WizardDraft,
    WizardProgress,
    context_budget,
    estimate_tokens,
    fit_context,
    performance_metrics,
)
from server.services.errors import AgenticError, Conflict, DependencyDown, FieldError, InvalidInput, NotFound
from server.services.llm import Generation

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus
    from server.services.agents import Agent, AgentService
    from server.services.chat_models import ChatEvent, ChatSend, ChatSessionDraft, ChatSessionPatch
    from server.services.llm import Chunk, Router
    from server.services.models import ModelService
    from server.services.wizard import WizardService

log = logging.getLogger(__name__)

DEFAULT_TITLES = {"general": "New chat", "agent_creation": "New agent"}
DEFAULT_CONTEXT = 4096  # when Ollama does not say
SHOW_TTL = 300.0  # seconds a model's context length and capabilities are remembered
TITLE_CHARS = 60
CACHE_SIZE = 256  # sessions (and their turns) kept in memory: a reply starts without a database read


def _session(row: ChatSessionRow) -> ChatSession:
    return ChatSession.model_validate(row, from_attributes=True)


def _message(row: ChatMessageRow) -> ChatMessage:
    return ChatMessage.model_validate(row, from_attributes=True)


def _options(config: dict[str, Any]) -> dict[str, Any]:
    options = {key: config[key] for key in PASSTHROUGH_OPTIONS if key in config}
    if "temperature" in config:
        options["temperature"] = config["temperature"]
    if "max_tokens" in config:
        options["num_predict"] = config["max_tokens"]
    return options


class ChatService:
    """Sessions, messages and replies; every model call goes through the gateway."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        llm: Router,
        models: ModelService,
        agents: AgentService,
        wizard_service: WizardService,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._llm = llm
        self._models = models
        self._agents = agents
        self._wizard = wizard_service
        self._shown: dict[str, tuple[float, int | None, tuple[str, ...]]] = {}
        self._busy: set[str] = set()
        # Write-through: this service is the only writer of chat rows, and every change passes
        # through _announce (sessions) or _store_turn (turns).
        self._cached: OrderedDict[str, ChatSession] = OrderedDict()
        self._turns: dict[str, list[dict[str, Any]]] = {}
        agents.on_before_delete(self._forget_agent)

    # -- sessions --

    async def create_session(self, draft: ChatSessionDraft) -> ChatSession:
        """Start a session on an installed model (the default model when none is named)."""
        config = chat_templates.resolve(draft.session_type, draft.config)
        model = draft.model_name or config.pop("model_name", None) or await self._models.default_model()
        if model is None:
            raise DependencyDown("No model is installed in Ollama: pull one in the Models panel")
        await self._agents.check_model(model)
        now = utcnow()
        row = ChatSessionRow(
            id=new_id(),
            session_type=draft.session_type,
            model_name=model,
            user_id=draft.user_id,
            title=(draft.title or DEFAULT_TITLES[draft.session_type]).strip(),
            status="active",
            config=config,
            agent_id=None,
            draft=WizardDraft(agent=None, problems=[], valid=False, attempts=0).model_dump()
            if draft.session_type == "agent_creation"
            else None,
            created_at=now,
            updated_at=now,
        )
        async with self._sessions.begin() as session:
            session.add(row)
        chat = self._announce(_session(row))
        self._turns[chat.id] = []
        return chat

    async def get_session(self, session_id: str) -> ChatSession:
        """One session."""
        cached = self._cached.get(session_id)
        if cached is not None:
            self._cached.move_to_end(session_id)
            return cached
        async with self._sessions() as session:
            row = await session.get(ChatSessionRow, session_id)
        if row is None:
            raise NotFound(f"No chat session with id {session_id}")
        return self._remember(_session(row))

    async def list_sessions(
        self,
        *,
        session_type: str | None = None,
        status: str | None = None,
        user_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ChatSession]:
        """Sessions, the most recently active first."""
        query = select(ChatSessionRow)
        if session_type is not None:
            query = query.where(ChatSessionRow.session_type == session_type)
        if status is not None:
            query = query.where(ChatSessionRow.status == status)
        if user_id is not None:
            query = query.where(ChatSessionRow.user_id == user_id)
        query = (
            query.order_by(ChatSessionRow.updated_at.desc(), ChatSessionRow.id).limit(limit).offset(offset)
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_session(row) for row in rows]

    async def update_session(self, session_id: str, patch: ChatSessionPatch) -> ChatSession:
        """Rename a session, change its model or merge keys into its config."""
        if patch.model_name is not None:
            await self._agents.check_model(patch.model_name)
        async with self._sessions.begin() as session:
            row = await self._row(session, session_id)
            if patch.title is not None:
                row.title = patch.title.strip()
            if patch.model_name is not None:
                row.model_name = patch.model_name
            if patch.config is not None:
                row.config = chat_templates.resolve(row.session_type, {**row.config, **patch.config})
            row.updated_at = utcnow()
        return self._announce(_session(row))

    async def set_status(self, session_id: str, status: str) -> ChatSession:
        """Mark a session active, completed or archived (only active sessions take messages)."""
        async with self._sessions.begin() as session:
            row = await self._row(session, session_id)
            row.status = status
            row.updated_at = utcnow()
        return self._announce(_session(row))

    async def delete_session(self, session_id: str) -> ChatSession:
        """Delete a session with its messages (a reply being generated is refused: stop it first)."""
        if session_id in self._busy:
            raise Conflict("A reply is being generated in this session: stop it first, then delete")
        async with self._sessions.begin() as session:
            row = await self._row(session, session_id)
            chat = _session(row)
            await session.execute(delete(ChatMessageRow).where(ChatMessageRow.session_id == session_id))
            await session.delete(row)
        return self._announce(chat, deleted=True)

    async def messages(self, session_id: str, *, limit: int = 1000, offset: int = 0) -> list[ChatMessage]:
        """A session's messages, oldest first."""
        async with self._sessions() as session:
            await self._row(session, session_id)
            rows = (
                await session.scalars(
                    select(ChatMessageRow)
                    .where(ChatMessageRow.session_id == session_id)
                    .order_by(ChatMessageRow.created_at, ChatMessageRow.id)
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        return [_message(row) for row in rows]

    async def stats(self, session_id: str) -> ChatStats:
        """Message counts, tokens and speeds of one session."""
        async with self._sessions() as session:
            row = await self._row(session, session_id)
            created = row.created_at
            messages = (
                await session.execute(
                    select(ChatMessageRow.role, ChatMessageRow.performance_metrics, ChatMessageRow.created_at)
                    .where(ChatMessageRow.session_id == session_id)
                    .order_by(ChatMessageRow.created_at)
                )
            ).all()
        metrics = [m for _, m, _ in messages if m]
        speeds = [m["tokens_per_second"] for m in metrics if m.get("response_tokens")]
        times = [m["response_time_seconds"] for m in metrics]
        last = messages[-1][2] if messages else row.updated_at
        return ChatStats(
            session_id=session_id,
            message_count=len(messages),
            user_messages=sum(1 for role, _, _ in messages if role == "user"),
            assistant_messages=sum(1 for role, _, _ in messages if role == "assistant"),
            total_tokens=sum(m["total_tokens"] for m in metrics),
            prompt_tokens=sum(m["prompt_tokens"] for m in metrics),
            response_tokens=sum(m["response_tokens"] for m in metrics),
            average_tokens_per_second=round(sum(speeds) / len(speeds), 2) if speeds else None,
            average_response_time_seconds=round(sum(times) / len(times), 3) if times else None,
            duration_seconds=round((last - created).total_seconds(), 3),
            last_activity=last,
            models_used=sorted({m["model_name"] for m in metrics}),
        )

    async def count(self) -> dict[str, int]:
        """How many sessions of each type exist."""
        query = select(ChatSessionRow.session_type, func.count()).group_by(ChatSessionRow.session_type)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {"general": 0, "agent_creation": 0} | {kind: int(n) for kind, n in rows}

    # -- catalogue --

    @staticmethod
    def templates() -> list[ChatTemplate]:
        """The built-in templates."""
        return list(chat_templates.TEMPLATES)

    async def models(self) -> ChatModels:
        """Installed models that can chat (embedding-only models are left out)."""
        installed = await self._llm.list_models()
        capabilities = await asyncio.gather(*(self._model_facts(m.name) for m in installed))
        names = [
            model.name
            for model, (_, caps) in zip(installed, capabilities, strict=True)
            if not caps or "completion" in caps
        ]
        default = await self._models.default_model()
        if default not in names:
            default = names[0] if names else None
        return ChatModels(models=names, default_model=default)

    async def _model_facts(self, model: str) -> tuple[int | None, tuple[str, ...]]:
        """Context length and capabilities from ``show``, remembered for a while."""
        now = time.monotonic()
        cached = self._shown.get(model)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        details = await self._llm.show(model)
        self._shown[model] = (now + SHOW_TTL, details.context_length, details.capabilities)
        return details.context_length, details.capabilities

    # -- messages --

    async def send(self, session_id: str, send: ChatSend) -> ChatReply:
        """Send a message and wait for the whole reply."""
        events = self.stream(session_id, send)
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, ReplyDone):
                    return event.reply
        raise DependencyDown("The reply ended without its final message")  # pragma: no cover

    async def stream(self, session_id: str, send: ChatSend) -> AsyncIterator[ChatEvent]:
        """Send a message; yield the reply's pieces as Ollama produces them, wizard progress, and
        finally the stored reply with its metrics.

        Checks (unknown session, inactive session, unknown model, Ollama down) fail before the
        first event. Closing the iterator early stops the generation: the request to Ollama is
        closed, and what was generated so far is kept, marked as stopped.
        """
        chat = await self.get_session(session_id)
        if chat.status != "active":
            raise Conflict(f"The session is {chat.status}: set its status to active to continue it")
        if session_id in self._busy:
            raise Conflict("A reply is already being generated in this session: wait for it or stop it")
        self._busy.add(session_id)
        try:
            turn = self._turn(chat, send)
            async with contextlib.aclosing(turn):  # type: ignore[type-var]
                async for event in turn:
                    yield event
        finally:
            self._busy.discard(session_id)

    async def _turn(self, chat: ChatSession, send: ChatSend) -> AsyncIterator[ChatEvent]:
        received = utcnow()
        model = send.model_name or chat.model_name
        try:
            context_length, _ = await self._model_facts(model)
        except NotFound as exc:
            raise FieldError(("model_name",), str(exc)) from None
        window = int(chat.config.get("num_ctx") or context_length or DEFAULT_CONTEXT)
        options = _options(chat.config)
        budget = context_budget(window, options.get("num_predict"))
        if estimate_tokens(send.message) > budget:
            raise InvalidInput(
                f"The message is about {estimate_tokens(send.message)} tokens; {model} takes at most "
                f"{budget} in its context of {window}. Shorten it or use a model with a longer context."
            )
        wizard_mode = chat.session_type == "agent_creation"
        system_text = (
            wizard.conversation_prompt(chat.config) if wizard_mode else chat.config.get("system_prompt")
        )
        system = {"role": "system", "content": str(system_text)} if system_text else None
        history = await self._history(chat.id)
        turns = [*history, {"role": "user", "content": send.message}]
        messages, dropped = fit_context(system, turns, budget)
        context_chars = sum(len(str(message["content"])) for message in messages)

        marker = MarkerFilter(wizard.DRAFT_MARKER) if wizard_mode else None
        shown: list[str] = []
        raw: list[str] = []
        final: Chunk | None = None
        meta: dict[str, Any] = {"context_turns_dropped": dropped} if dropped else {}
        draft: WizardDraft | None = None
        chunks = self._llm.chat_stream(model, messages, options=options, purpose="chat")
        try:
            async with contextlib.aclosing(chunks):  # type: ignore[type-var]
                async for chunk in chunks:
                    if chunk.done:
                        # Read on to the end of the response (no more lines come): a response
                        # read to its end leaves its connection open for the next request.
                        final = chunk
                        continue
                    raw.append(chunk.text)
                    text = marker.feed(chunk.text) if marker else chunk.text
                    if text:
                        shown.append(text)
                        yield ReplyToken(text)
            if final is None:
                raise DependencyDown("Ollama ended the reply without its final message: is it still running?")
            if marker is not None and (rest := marker.finish()):
                shown.append(rest)
                yield ReplyToken(rest)
            generation = Generation.from_chunks("".join(raw), final)
            metrics = performance_metrics(generation, context_chars, utcnow())
            wants_draft = (marker is not None and marker.found) or send.metadata.get("wizard") == "draft"
            if wizard_mode and wants_draft:
                conversation = [*turns, {"role": "assistant", "content": "".join(shown)}]
                async for step in self._draft(chat, model, conversation, window):
                    if isinstance(step, WizardDraft):
                        draft = step
                    else:
                        yield step
                assert draft is not None
                note = "\n\n" + wizard.summary(draft)
                shown.append(note)
                yield ReplyToken(note)
                meta["wizard"] = {"drafted": True, "valid": draft.valid, "attempts": draft.attempts}
        except (GeneratorExit, asyncio.CancelledError):
            await asyncio.shield(self._keep_stopped(chat, send, received, "".join(shown), model, "stopped"))
            raise
        except AgenticError as exc:
            await self._keep_stopped(chat, send, received, "".join(shown), model, f"failed: {exc}")
            raise

        user_row, reply_row, updated = await self._store_turn(
            chat, send, received, "".join(shown), model, metrics.model_dump(), meta, draft
        )
        self._announce(updated)
        yield ReplyDone(
            ChatReply(
                session_id=chat.id,
                response=reply_row.content,
                model=model,
                performance_metrics=metrics,
                message=reply_row,
                user_message=user_row,
                tokens_used=metrics.total_tokens,
                draft=WizardDraft.model_validate(updated.draft) if wizard_mode and updated.draft else None,
            )
        )

    async def _draft(
        self, chat: ChatSession, model: str, conversation: list[dict[str, Any]], window: int
    ) -> AsyncIterator[WizardProgress | WizardDraft]:
        current = WizardDraft.model_validate(chat.draft) if chat.draft else None
        installed = (await self.models()).models
        steps = self._wizard.draft(
            model,
            [turn for turn in conversation if turn["role"] != "system"],
            current=current,
            installed=installed,
            context_length=window,
            config=chat.config,
        )
        async with contextlib.aclosing(steps):  # type: ignore[type-var]
            async for step in steps:
                yield step

    async def _history(self, session_id: str) -> list[dict[str, Any]]:
        turns = self._turns.get(session_id)
        if turns is not None:
            return list(turns)
        query = (
            select(ChatMessageRow.role, ChatMessageRow.content)
            .where(ChatMessageRow.session_id == session_id, ChatMessageRow.role != "system")
            .order_by(ChatMessageRow.created_at, ChatMessageRow.id)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        turns = [{"role": role, "content": content} for role, content in rows]
        if session_id in self._cached:
            self._turns[session_id] = turns
        return list(turns)

    async def _keep_stopped(
        self, chat: ChatSession, send: ChatSend, received: Any, text: str, model: str, why: str
    ) -> None:
        """Store the question and the part of the reply generated before it was stopped (nothing
        when no token had come yet: the request failed as a whole)."""
        if not text:
            return
        try:
            _, _, updated = await self._store_turn(
                chat, send, received, text, model, None, {"interrupted": why}, None
            )
        except NotFound:
            return  # the session was deleted meanwhile
        self._announce(updated)

    async def _store_turn(
        self,
        chat: ChatSession,
        send: ChatSend,
        received: Any,
        reply: str,
        model: str,
        metrics: dict[str, Any] | None,
        meta: dict[str, Any],
        draft: WizardDraft | None,
    ) -> tuple[ChatMessage, ChatMessage, ChatSession]:
        """The user's message and the reply in one transaction, with the session's new state."""
        finished = utcnow()
        user = ChatMessageRow(
            id=new_id(),
            session_id=chat.id,
            role="user",
            content=send.message,
            model=None,
            performance_metrics=None,
            meta=send.metadata,
            created_at=received,
        )
        answer = ChatMessageRow(
            id=new_id(),
            session_id=chat.id,
            role="assistant",
            content=reply,
            model=model,
            performance_metrics=metrics,
            meta=meta,
            created_at=max(finished, received),
        )
        async with self._sessions.begin() as session:
            row = await self._row(session, chat.id)
            if row.title == DEFAULT_TITLES.get(row.session_type):
                first = " ".join(send.message.split())
                row.title = first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"
            if draft is not None:
                row.draft = draft.model_dump()
            row.updated_at = finished
            session.add_all([user, answer])
        turns = self._turns.get(chat.id)
        if turns is not None:
            turns += [{"role": "user", "content": user.content}, {"role": "assistant", "content": reply}]
        return _message(user), _message(answer), _session(row)

    # -- the wizard --

    async def finalize(self, session_id: str) -> tuple[ChatSession, Agent]:
        """Create the agent an agent-creation session drafted, and record it on the session."""
        chat = await self.get_session(session_id)
        if chat.session_type != "agent_creation":
            raise InvalidInput("Only agent_creation sessions have a draft agent to create")
        if chat.agent_id is not None:
            raise Conflict(f"This session already created agent {chat.agent_id}")
        if session_id in self._busy:
            raise Conflict("The wizard is still answering: wait for the reply, then create the agent")
        draft = WizardDraft.model_validate(chat.draft) if chat.draft else None
        if draft is None:
            raise InvalidInput("There is no draft yet: describe the agent and let the wizard draft it")
        installed = (await self.models()).models
        agent = await self._wizard.register(draft, installed, session_id)
        async with self._sessions.begin() as session:
            row = await self._row(session, session_id)
            row.agent_id = agent.id
            row.status = "completed"
            row.updated_at = utcnow()
        return self._announce(_session(row)), agent

    # -- helpers --

    @staticmethod
    async def _row(session: AsyncSession, session_id: str) -> ChatSessionRow:
        row = await session.get(ChatSessionRow, session_id)
        if row is None:
            raise NotFound(f"No chat session with id {session_id}")
        return row

    def _announce(self, chat: ChatSession, *, deleted: bool = False) -> ChatSession:
        if deleted:
            self._forget(chat.id)
        else:
            self._remember(chat)
        self._bus.publish(ChatSessionChanged(session=chat, deleted=deleted))
        return chat

    def _remember(self, chat: ChatSession) -> ChatSession:
        self._cached[chat.id] = chat
        self._cached.move_to_end(chat.id)
        while len(self._cached) > CACHE_SIZE:
            oldest, _ = self._cached.popitem(last=False)
            self._turns.pop(oldest, None)
        return chat

    def _forget(self, session_id: str) -> None:
        self._cached.pop(session_id, None)
        self._turns.pop(session_id, None)

    async def _forget_agent(self, agent_id: str) -> None:
        """An agent is being deleted: the database clears it from its wizard session (SET NULL),
        so the cached copies go."""
        for chat in [chat for chat in self._cached.values() if chat.agent_id == agent_id]:
            self._forget(chat.id)
