"""Chat sessions, messages (also streamed as server-sent events), templates, models, and the
agent creation wizard's finalize step."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from server.api.auth import principal
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.chat import (
    ChatMessage,
    ChatMessagesQuery,
    ChatModels,
    ChatReply,
    ChatSendIn,
    ChatSession,
    ChatSessionCreateIn,
    ChatSessionDeleted,
    ChatSessionListQuery,
    ChatSessionUpdateIn,
    ChatStats,
    ChatStatusIn,
    ChatTemplates,
    WizardFinalized,
)
from server.services.chat_models import ReplyDone, ReplyToken, WizardProgress
from server.services.errors import AgenticError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from server.services.chat_models import ChatEvent

routes = RouteRegistry(tags=("chat",))


class EventStream(web.StreamResponse):
    """A stream whose headers leave with its first event (one packet, not two: the first token
    reaches the client sooner). ``web.Response`` does the same through this switch."""

    _send_headers_immediately = False


SESSION = "/api/v1/chat/sessions/{session_id}"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_DOC = {
    "text/event-stream": {
        "schema": {"type": "string"},
        "example": (
            'event: token\ndata: {"type": "token", "content": "Quantum "}\n\n'
            'event: token\ndata: {"type": "token", "content": "computing"}\n\n'
            'event: message\ndata: {"type": "message", "session_id": "...", "response": "Quantum '
            'computing", "model": "llama3.2:latest", "performance_metrics": {...}, ...}\n\n'
        ),
    }
}


@routes.post(
    "/api/v1/chat/sessions",
    summary="Create a chat session",
    auth=True,
    body=ChatSessionCreateIn,
    response=ChatSession,
    errors=(503,),
)
async def create_chat_session(request: web.Request, body: ChatSessionCreateIn) -> ChatSession:
    """``session_type`` is ``general`` or ``agent_creation`` (the wizard). ``model_name`` must be
    installed (the default model when left out). ``config.template`` names a template from
    ``/chat/templates``; ``user_id`` defaults to the caller's account."""
    if body.user_id is None:
        body = body.model_copy(update={"user_id": principal(request).user_id})
    return await request.app[BACKEND].chat.create_session(body)


@routes.get(
    "/api/v1/chat/sessions",
    summary="List chat sessions",
    query=ChatSessionListQuery,
    response=list[ChatSession],
)
async def list_chat_sessions(request: web.Request, query: ChatSessionListQuery) -> list[ChatSession]:
    """The most recently active first."""
    return await request.app[BACKEND].chat.list_sessions(**query.model_dump())


@routes.get(SESSION, summary="Get a chat session", response=ChatSession, errors=(404,))
async def get_chat_session(request: web.Request) -> ChatSession:
    """Agent-creation sessions carry the wizard's current ``draft`` and, once finalized, ``agent_id``."""
    return await request.app[BACKEND].chat.get_session(request.match_info["session_id"])


@routes.put(
    SESSION,
    summary="Rename a chat session or change its model or config",
    auth=True,
    body=ChatSessionUpdateIn,
    response=ChatSession,
    errors=(404, 503),
)
async def update_chat_session(request: web.Request, body: ChatSessionUpdateIn) -> ChatSession:
    """Fields left out stay as they are; ``config`` keys are merged."""
    return await request.app[BACKEND].chat.update_session(request.match_info["session_id"], body)


@routes.delete(
    SESSION, summary="Delete a chat session", auth=True, response=ChatSessionDeleted, errors=(404, 409)
)
async def delete_chat_session(request: web.Request) -> ChatSessionDeleted:
    """Deletes its messages too. A session generating a reply is a 409: stop it first."""
    chat = await request.app[BACKEND].chat.delete_session(request.match_info["session_id"])
    return ChatSessionDeleted(message=f"Chat session '{chat.title}' deleted", session_id=chat.id)


@routes.get(
    f"{SESSION}/messages",
    summary="Get a chat session's messages",
    query=ChatMessagesQuery,
    response=list[ChatMessage],
    errors=(404,),
)
async def list_chat_messages(request: web.Request, query: ChatMessagesQuery) -> list[ChatMessage]:
    """Oldest first. Assistant messages carry their ``performance_metrics``."""
    return await request.app[BACKEND].chat.messages(request.match_info["session_id"], **query.model_dump())


@routes.post(
    f"{SESSION}/messages",
    summary="Send a message and get the model's reply with performance metrics",
    auth=True,
    body=ChatSendIn,
    response=ChatReply,
    errors=(400, 404, 409, 503),
    alternatives=SSE_DOC,
)
async def send_chat_message(request: web.Request, body: ChatSendIn) -> ChatReply | web.StreamResponse:
    """The reply with ``performance_metrics`` computed from Ollama's own timings. The conversation
    sent to the model is trimmed to its context length, oldest turns first (the system prompt is
    kept). In ``agent_creation`` sessions the wizard drafts the agent when it has what it needs
    (or when ``metadata`` is ``{"wizard": "draft"}``) and the answer carries the ``draft``.

    With ``"stream": true`` the answer is ``text/event-stream``: ``token`` events
    (``{"type": "token", "content": ...}``), ``wizard`` events while a draft is made
    (``{"type": "wizard", "stage", "attempt", "message"}``), then one ``message`` event with the
    same object as the JSON answer; a failure after the stream began is an ``error`` event
    (``{"type": "error", "detail", "status_code"}``). Closing the connection stops the generation;
    what was generated is kept, marked ``interrupted``. Failures before the first token are
    ordinary JSON errors with their status code."""
    chat = request.app[BACKEND].chat
    session_id = request.match_info["session_id"]
    if not body.stream:
        return await chat.send(session_id, body)
    return await _stream(request, chat.stream(session_id, body))


async def _stream(request: web.Request, events: AsyncIterator[ChatEvent]) -> web.StreamResponse:
    response = EventStream(headers=SSE_HEADERS)
    async with contextlib.aclosing(events):  # type: ignore[type-var]
        event = await anext(events)  # checks fail here, before any byte is sent
        await response.prepare(request)
        try:
            while True:
                await response.write(_encode(event))
                if isinstance(event, ReplyDone):
                    break
                event = await anext(events)
        except AgenticError as exc:
            from server.api.errors import status_for

            body = {"type": "error", "detail": str(exc), "status_code": status_for(exc)}
            await response.write(b"event: error\ndata: " + orjson.dumps(body) + b"\n\n")
        except ConnectionResetError:
            return response  # the client left: leaving the block closes the generation
    await response.write_eof()
    return response


def _encode(event: ChatEvent) -> bytes:
    if isinstance(event, ReplyToken):
        data = orjson.dumps({"type": "token", "content": event.text})
        return b"event: token\ndata: " + data + b"\n\n"
    if isinstance(event, WizardProgress):
        data = orjson.dumps(
            {"type": "wizard", "stage": event.stage, "attempt": event.attempt, "message": event.message}
        )
        return b"event: wizard\ndata: " + data + b"\n\n"
    return b'event: message\ndata: {"type":"message",' + event.reply.model_dump_json().encode()[1:] + b"\n\n"


@routes.put(
    f"{SESSION}/status",
    summary="Update a chat session's status",
    auth=True,
    body=ChatStatusIn,
    response=ChatSession,
    errors=(404,),
)
async def update_chat_session_status(request: web.Request, body: ChatStatusIn) -> ChatSession:
    """``active``, ``completed`` or ``archived``; only active sessions take new messages."""
    return await request.app[BACKEND].chat.set_status(request.match_info["session_id"], body.status)


@routes.get(f"{SESSION}/stats", summary="Get a chat session's statistics", response=ChatStats, errors=(404,))
async def chat_session_stats(request: web.Request) -> ChatStats:
    """Message counts, tokens, average speed and response time, duration, last activity."""
    return await request.app[BACKEND].chat.stats(request.match_info["session_id"])


@routes.post(
    f"{SESSION}/finalize",
    summary="Create the agent an agent-creation session drafted",
    auth=True,
    response=WizardFinalized,
    errors=(400, 404, 409, 503),
)
async def finalize_wizard(request: web.Request) -> WizardFinalized:
    """Registers the wizard's current draft as a dynamic agent (its ``agent_type``; the config
    holds the data models, pipeline, tools and the secret keys it needs) and records ``agent_id``
    on the session, which becomes ``completed``. A draft with problems is a 400 naming them; a
    session that already created its agent is a 409. Secret values are never invented: store the
    ``required_secrets`` with ``POST /api/v1/agents/{agent_id}/secrets``."""
    chat, agent = await request.app[BACKEND].chat.finalize(request.match_info["session_id"])
    needed = [str(item["key"]) for item in agent.config.get("required_secrets", [])]
    return WizardFinalized(session=chat, agent=agent, required_secrets=needed)


@routes.get("/api/v1/chat/templates", summary="List chat templates", response=ChatTemplates)
async def list_chat_templates(request: web.Request) -> ChatTemplates:
    """General assistants and specialised agent-creation wizards (e.g. ``email_processor_template``)."""
    return ChatTemplates(templates=request.app[BACKEND].chat.templates())


@routes.get("/api/v1/chat/models", summary="List models that can chat", response=ChatModels, errors=(503,))
async def list_chat_models(request: web.Request) -> ChatModels:
    """Installed models with the completion capability, and the default one."""
    return await request.app[BACKEND].chat.models()
