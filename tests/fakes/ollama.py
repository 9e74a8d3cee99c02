"""A fake Ollama server speaking Ollama's HTTP API on loopback, deterministic, with failure switches.

Endpoints: ``/api/version``, ``/api/tags``, ``/api/ps``, ``/api/show``, ``/api/pull`` (NDJSON
progress), ``/api/delete``, ``/api/generate`` and ``/api/chat`` (NDJSON streaming or one JSON
object, with Ollama's timing fields), ``/api/embed``. Switches on ``FakeOllama``:

- ``delay``: seconds to wait before answering any API request ("slow");
- ``token_delay``: seconds between streamed tokens;
- ``fail_status``: answer every API request with this status and an ``{"error": ...}`` body;
- ``cut_stream_after``: drop the connection after this many streamed tokens;
- ``reply_words``: unscripted replies are this many words long (for long streams);
- the request's ``options.stop`` ends a reply before the first stop sequence, and
  ``options.num_predict`` cuts it at that many tokens (``done_reason`` ``length``), as Ollama does;
- ``streams_open`` / ``streams_aborted``: streams being written now, and streams whose client
  closed the connection before the end (how a client stops a generation in real Ollama);
- ``stop()`` / ``start(port=...)``: be down, then come back on the same port;
- ``max_parallel``: generations served at once (more wait their turn, as with Ollama's
  ``OLLAMA_NUM_PARALLEL``); ``peak_parallel`` is the most that ran at once;
- ``models`` (what ``/api/tags`` lists) and ``loaded`` (what ``/api/ps`` lists) may be set directly.

Replies are scripted with ``replies`` (consumed in order) or else derived from the prompt.
Run it alone with ``python -m tests.fakes.ollama --port 11434``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

VERSION = "0.12.6"
JSON_BODY = web.RequestKey[Any]("json_body")
MS = 1_000_000  # nanoseconds


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def full_name(name: str) -> str:
    """Ollama's canonical name: a missing tag means ``:latest``."""
    return name if ":" in name else f"{name}:latest"


@dataclass
class FakeModel:
    """One installed (or pullable) model."""

    name: str
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    size: int = 2_019_393_189
    context_length: int = 4096
    capabilities: tuple[str, ...] = ("completion",)
    embedding_length: int = 768
    modified_at: str = "2026-10-01T12:00:00.000000000Z"

    def __post_init__(self) -> None:
        self.name = full_name(self.name)

    @property
    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }

    def tag(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": self.modified_at,
            "size": self.size,
            "digest": _digest(self.name),
            "details": self.details,
        }


DEFAULT_MODELS = (
    FakeModel("llama3.2:latest", capabilities=("completion", "tools"), context_length=8192),
    FakeModel("qwen2.5:7b", family="qwen2", parameter_size="7.6B", size=4_683_087_332),
    FakeModel(
        "nomic-embed-text:latest",
        family="nomic-bert",
        parameter_size="137M",
        size=274_302_450,
        quantization_level="F16",
        capabilities=("embedding",),
        context_length=2048,
    ),
)
DEFAULT_PULLABLE = (FakeModel("mistral:7b", family="llama", parameter_size="7.2B", size=4_113_301_824),)


def words(text: str) -> list[str]:
    """Whitespace tokens: the fake's notion of a token."""
    return text.split()


def embed_text(text: str, dims: int) -> list[float]:
    """A deterministic bag-of-words embedding: texts sharing words point the same way."""
    vector = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[bucket % dims] += 1.0 if (bucket >> 32) & 1 else -1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


@dataclass
class FakeOllama:
    """The fake server and its switches."""

    models: list[FakeModel] = field(default_factory=lambda: [FakeModel(**vars(m)) for m in DEFAULT_MODELS])
    pullable: list[FakeModel] = field(
        default_factory=lambda: [FakeModel(**vars(m)) for m in DEFAULT_PULLABLE]
    )
    delay: float = 0.0
    token_delay: float = 0.0
    fail_status: int | None = None
    cut_stream_after: int | None = None
    token_ns: int = 20 * MS
    reply_words: int | None = None
    replies: deque[str] = field(default_factory=deque)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    loaded: dict[str, str] = field(default_factory=dict)
    streams_open: int = 0
    streams_aborted: int = 0
    max_parallel: int | None = None
    peak_parallel: int = 0

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._parallel = 0
        self._turn: asyncio.Condition | None = None  # made on first use, on the serving loop

    # -- lifecycle --

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._switches])
        app.router.add_get("/", self._root)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/pull", self._pull)
        app.router.add_delete("/api/delete", self._delete)
        app.router.add_post("/api/generate", self._generate)
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/embed", self._embed)
        return app

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        """Serve on ``port`` (the previous one when restarting, else a free one)."""
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, self.port if port is None else port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.url

    async def stop(self) -> None:
        """Go down: connections are refused until ``start`` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- helpers --

    def find(self, name: str) -> FakeModel | None:
        wanted = full_name(name)
        return next((model for model in self.models if model.name == wanted), None)

    def _reply_for(self, prompt: str, model: str) -> str:
        if self.replies:
            return self.replies.popleft()
        if self.reply_words:
            return " ".join(f"token{n}" for n in range(self.reply_words))
        gist = " ".join(words(prompt)[-12:])
        return f"Reply from {model} about: {gist}"

    @web.middleware
    async def _switches(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            body = orjson.loads(raw) if raw else None
            request[JSON_BODY] = body
        self.requests.append((request.method, request.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status is not None and request.path.startswith("/api/"):
            return web.json_response({"error": "fake ollama failure"}, status=self.fail_status)
        return await handler(request)

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    @staticmethod
    def _model_param(request: web.Request) -> str:
        body = request.get(JSON_BODY) or {}
        return str(body.get("model") or body.get("name") or "")

    async def _stream(self, request: web.Request, lines: Any) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        sent = 0
        self.streams_open += 1
        try:
            async for line in lines:
                if self.cut_stream_after is not None and sent >= self.cut_stream_after:
                    assert request.transport is not None
                    request.transport.close()
                    return response
                await response.write(orjson.dumps(line) + b"\n")
                sent += 1
            await response.write_eof()
        except ConnectionResetError:
            self.streams_aborted += 1  # the client went away: Ollama stops generating
        except asyncio.CancelledError:
            self.streams_aborted += 1
            raise
        finally:
            self.streams_open -= 1
        return response

    # -- endpoints --

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [model.tag() for model in self.models]})

    async def _ps(self, request: web.Request) -> web.Response:
        running = []
        for name, expires in self.loaded.items():
            model = self.find(name)
            if model is not None:
                running.append({**model.tag(), "expires_at": expires, "size_vram": model.size})
        return web.json_response({"models": running})

    async def _show(self, request: web.Request) -> web.Response:
        name = self._model_param(request)
        model = self.find(name)
        if model is None:
            return self._error(404, f"model '{name}' not found")
        arch = model.family.replace("-", "_")
        info: dict[str, Any] = {
            "general.architecture": arch,
            "general.parameter_count": 3_212_749_888,
            f"{arch}.context_length": model.context_length,
        }
        if "embedding" in model.capabilities:
            info[f"{arch}.embedding_length"] = model.embedding_length
        return web.json_response(
            {
                "license": "fake license",
                "modelfile": f"FROM {model.name}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": model.details,
                "model_info": info,
                "capabilities": list(model.capabilities),
                "modified_at": model.modified_at,
            }
        )

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body = request.get(JSON_BODY) or {}
        name = full_name(self._model_param(request))
        stream = body.get("stream", True)
        source = next((model for model in self.pullable if model.name == name), None)
        if source is None:
            if not stream:
                return self._error(500, "pull model manifest: file does not exist")

            async def failing() -> Any:
                yield {"status": "pulling manifest"}
                yield {"error": "pull model manifest: file does not exist"}

            return await self._stream(request, failing())

        async def progress() -> Any:
            yield {"status": "pulling manifest"}
            digest = f"sha256:{_digest(name)}"
            for step in range(5):
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                yield {
                    "status": f"pulling {digest[7:19]}",
                    "digest": digest,
                    "total": source.size,
                    "completed": source.size * step // 4,
                }
            yield {"status": "verifying sha256 digest"}
            yield {"status": "writing manifest"}
            if self.find(name) is None:
                self.models.append(FakeModel(**vars(source)))
            yield {"status": "success"}

        if not stream:
            async for _ in progress():
                pass
            return web.json_response({"status": "success"})
        return await self._stream(request, progress())

    async def _delete(self, request: web.Request) -> web.Response:
        name = self._model_param(request)
        model = self.find(name)
        if model is None:
            return self._error(404, f"model '{name}' not found")
        self.models.remove(model)
        self.loaded.pop(model.name, None)
        return web.Response()

    def _timings(self, prompt_tokens: int, eval_tokens: int) -> dict[str, int]:
        load, prompt_eval, evaluation = 2 * MS, prompt_tokens * MS, eval_tokens * self.token_ns
        return {
            "total_duration": load + prompt_eval + evaluation + MS,
            "load_duration": load,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": prompt_eval,
            "eval_count": eval_tokens,
            "eval_duration": evaluation,
        }

    def _reply(self, body: dict[str, Any], prompt: str, model: FakeModel) -> str:
        if body.get("format") is not None and not self.replies:
            # Structured output without a script: a valid, empty JSON object.
            return "{}"
        return self._reply_for(prompt, model.name)

    async def _generate_common(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        body = request.get(JSON_BODY) or {}
        name = self._model_param(request)
        model = self.find(name)
        if model is None:
            return self._error(404, f'model "{name}" not found, try pulling it first')
        if "completion" not in model.capabilities:
            return self._error(400, f'"{model.name}" does not support {"chat" if chat else "generate"}')
        if chat:
            messages = body.get("messages") or []
            prompt = " ".join(str(message.get("content", "")) for message in messages)
        else:
            prompt = f"{body.get('system') or ''} {body.get('prompt') or ''}"
        self.loaded[model.name] = "2099-01-01T00:00:00Z"
        reply = self._reply(body, prompt, model)
        options = body.get("options") or {}
        stops = options.get("stop") or []
        cuts = [reply.index(stop) for stop in ([stops] if isinstance(stops, str) else stops) if stop in reply]
        if cuts:  # like Ollama: the reply ends before the first stop sequence, which is not sent
            reply = reply[: min(cuts)].rstrip(" ")
        pieces = [f"{word} " for word in reply.split(" ")[:-1]] + [reply.split(" ")[-1]]
        pieces = [piece for piece in pieces if piece]
        done_reason = "stop"
        limit = options.get("num_predict")
        if isinstance(limit, int) and 0 <= limit < len(pieces):  # like Ollama: cut at num_predict
            pieces, done_reason = pieces[:limit], "length"
            reply = "".join(pieces)
        timings = self._timings(len(words(prompt)), len(pieces))

        def chunk(text: str, done: bool) -> dict[str, Any]:
            line: dict[str, Any] = {"model": model.name, "created_at": _now()}
            if chat:
                line["message"] = {"role": "assistant", "content": text}
            else:
                line["response"] = text
            line["done"] = done
            if done:
                line["done_reason"] = done_reason
                if not chat:
                    line["context"] = list(range(1, len(pieces) + 1))
                line.update(timings)
            return line

        if not body.get("stream", True):
            if self.token_delay:
                await asyncio.sleep(self.token_delay * len(pieces))
            return web.json_response(chunk(reply, True))

        async def lines() -> Any:
            for piece in pieces:
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                yield chunk(piece, False)
            yield chunk("", True)

        return await self._stream(request, lines())

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        return await self._limited(request, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._limited(request, chat=True)

    async def _limited(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        """Serve a generation, waiting for a free slot when ``max_parallel`` is set."""
        if self._turn is None:
            self._turn = asyncio.Condition()
        async with self._turn:
            await self._turn.wait_for(lambda: self.max_parallel is None or self._parallel < self.max_parallel)
            self._parallel += 1
            self.peak_parallel = max(self.peak_parallel, self._parallel)
        try:
            return await self._generate_common(request, chat=chat)
        finally:
            async with self._turn:
                self._parallel -= 1
                self._turn.notify_all()

    async def _embed(self, request: web.Request) -> web.Response:
        body = request.get(JSON_BODY) or {}
        name = self._model_param(request)
        model = self.find(name)
        if model is None:
            return self._error(404, f'model "{name}" not found, try pulling it first')
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        prompt_tokens = sum(len(words(text)) for text in texts)
        return web.json_response(
            {
                "model": model.name,
                "embeddings": [embed_text(text, model.embedding_length) for text in texts],
                "total_duration": 3 * MS + prompt_tokens * MS,
                "load_duration": 2 * MS,
                "prompt_eval_count": prompt_tokens,
            }
        )


class FakeOllamaThread:
    """Run a FakeOllama on its own loop in a thread, for synchronous tests and benchmarks."""

    def __init__(self, fake: FakeOllama | None = None) -> None:
        self.fake = fake or FakeOllama()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-ollama", daemon=True)

    def call(self, coro: Any) -> Any:
        """Run ``coro`` on the fake's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def __enter__(self) -> FakeOllama:
        self._thread.start()
        self.call(self.fake.start())
        return self.fake

    def __exit__(self, *exc_info: object) -> None:
        self.call(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def main() -> None:
    """Serve the fake until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--reply-words", type=int, default=None, help="length of unscripted replies")
    args = parser.parse_args()
    fake = FakeOllama(token_delay=args.token_delay, reply_words=args.reply_words)

    async def run() -> None:
        url = await fake.start(args.host, args.port)
        print(f"fake Ollama listening on {url}", flush=True)  # noqa: T201
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
