"""The OpenAI-compatible API at ``/v1``: models, chat completions (JSON or server-sent events) and
embeddings, for tools that speak OpenAI's protocol. Errors here are in OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``, see ``server.api.errors``)."""

from __future__ import annotations

import base64
import contextlib
import struct
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from server.api.errors import openai_error_body, status_for
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.openai_compat import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionIn,
    ChatMessageOut,
    EmbeddingList,
    EmbeddingOut,
    EmbeddingsIn,
    EmbeddingsUsage,
    ModelList,
    ModelOut,
    Usage,
)
from server.services.errors import AgenticError, InvalidInput
from server.services.llm import collect
from server.services.openai_compat import OpenAICompatService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from server.services.llm import Chunk

routes = RouteRegistry(tags=("openai",))

MAX_EMBED_INPUTS = 2048
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_DOC = {
    "text/event-stream": {
        "schema": {"type": "string"},
        "example": (
            'data: {"id": "chatcmpl-...", "object": "chat.completion.chunk", "created": 1767225600, '
            '"model": "llama3.2:latest", "choices": [{"index": 0, "delta": {"role": "assistant", '
            '"content": ""}, "finish_reason": null}]}\n\n'
            'data: {"id": "chatcmpl-...", "object": "chat.completion.chunk", ..., "choices": [{"index": 0, '
            '"delta": {"content": "Hello"}, "finish_reason": null}]}\n\n'
            'data: {"id": "chatcmpl-...", "object": "chat.completion.chunk", ..., "choices": [{"index": 0, '
            '"delta": {}, "finish_reason": "stop"}]}\n\n'
            "data: [DONE]\n\n"
        ),
    }
}


class EventStream(web.StreamResponse):
    """Headers leave with the first event (one packet, not two)."""

    _send_headers_immediately = False


def _service(request: web.Request) -> OpenAICompatService:
    backend = request.app[BACKEND]
    return OpenAICompatService(backend.llm, backend.agents)


def _finish_reason(done_reason: str | None) -> str:
    return "length" if done_reason == "length" else "stop"


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


@routes.get(
    "/v1/models", summary="List models (OpenAI-compatible)", auth=True, response=ModelList, errors=(503,)
)
async def openai_list_models(request: web.Request) -> ModelList:
    """Every model installed in Ollama, and every active agent as ``agent:<name>`` (its model,
    system prompt and parameters apply when it is used as the model)."""
    entries = await _service(request).models()
    return ModelList(data=[ModelOut(id=e.id, created=e.created, owned_by=e.owned_by) for e in entries])


@routes.post(
    "/v1/chat/completions",
    summary="Create a chat completion (OpenAI-compatible)",
    auth=True,
    body=ChatCompletionIn,
    response=ChatCompletion,
    errors=(400, 404, 429, 503),
    alternatives=SSE_DOC,
)
async def openai_chat_completions(
    request: web.Request, body: ChatCompletionIn
) -> ChatCompletion | web.StreamResponse:
    """OpenAI's chat completion over Ollama. ``model`` is an installed model or ``agent:<name>``
    (the agent's model; its system prompt is put first when the request has no system message;
    its parameters apply, and the request's ``temperature``, ``top_p``,
    ``max_tokens``/``max_completion_tokens`` (Ollama's ``num_predict``), ``stop``, ``seed``,
    ``presence_penalty`` and ``frequency_penalty`` override them). ``usage`` holds Ollama's own
    token counts; ``finish_reason`` is ``length`` when the reply hit the token limit, else ``stop``.

    With ``"stream": true`` the answer is ``text/event-stream``: ``chat.completion.chunk`` objects
    (the first carries the role, then content deltas, then one with ``finish_reason``; with
    ``stream_options.include_usage`` one more with ``usage`` and empty ``choices``), then
    ``data: [DONE]``. Failures before the first chunk are ordinary errors with their status; a
    failure later is a final ``data: {"error": {...}}`` event. Closing the connection stops the
    generation. An unknown model is a 404 naming the models and agents that exist; Ollama down is
    a 503."""
    service = _service(request)
    target = await service.resolve(body.model)
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages
    ]
    chunks = service.chat(target, messages, body.ollama_options())
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return await _stream(request, chunks, completion_id, created, body.model, include_usage=include_usage)
    reply = await collect(chunks)
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=body.model,
        choices=[
            ChatChoice(
                message=ChatMessageOut(content=reply.text),
                finish_reason=_finish_reason(reply.done_reason),
            )
        ],
        usage=_usage(reply.prompt_tokens, reply.completion_tokens),
    )


def _event(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _stream(
    request: web.Request,
    chunks: AsyncIterator[Chunk],
    completion_id: str,
    created: int,
    model: str,
    *,
    include_usage: bool,
) -> web.StreamResponse:
    def piece(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }
        )

    response = EventStream(headers=SSE_HEADERS)
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        chunk = await anext(chunks)  # Ollama down, unknown model: ordinary errors, before any byte
        await response.prepare(request)
        try:
            await response.write(piece({"role": "assistant", "content": ""}))
            while True:
                if chunk.done:
                    await response.write(piece({}, _finish_reason(chunk.done_reason)))
                    if include_usage:
                        usage = _usage(chunk.prompt_tokens, chunk.completion_tokens).model_dump()
                        await response.write(
                            _event(
                                {
                                    "id": completion_id,
                                    "object": "chat.completion.chunk",
                                    "created": created,
                                    "model": model,
                                    "choices": [],
                                    "usage": usage,
                                }
                            )
                        )
                    break
                if chunk.text:
                    await response.write(piece({"content": chunk.text}))
                chunk = await anext(chunks)
        except AgenticError as exc:
            status = status_for(exc)
            await response.write(_event(openai_error_body(status, str(exc))))
        except StopAsyncIteration:  # pragma: no cover - the service raises before this
            await response.write(_event(openai_error_body(503, "Ollama ended the reply early")))
        except ConnectionResetError:
            return response  # the client left: leaving the block closes the request to Ollama
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@routes.post(
    "/v1/embeddings",
    summary="Create embeddings (OpenAI-compatible)",
    auth=True,
    body=EmbeddingsIn,
    response=EmbeddingList,
    errors=(400, 404, 429, 503),
)
async def openai_embeddings(request: web.Request, body: EmbeddingsIn) -> EmbeddingList:
    """One vector per input text (a string or a list of up to 2048 strings) from an installed
    embedding model (or an agent's model). ``encoding_format`` ``base64`` gives little-endian
    float32 bytes, as the official clients ask for by default. ``usage`` holds the tokens Ollama
    read."""
    texts = body.texts()
    if not texts or len(texts) > MAX_EMBED_INPUTS:
        raise InvalidInput(f"input must hold between 1 and {MAX_EMBED_INPUTS} texts, not {len(texts)}")
    result = await _service(request).embeddings(body.model, texts)
    return EmbeddingList(
        data=[
            EmbeddingOut(index=index, embedding=_encode(vector, body.encoding_format))
            for index, vector in enumerate(result.vectors)
        ],
        model=body.model,
        usage=EmbeddingsUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens),
    )
