"""The client of one Ollama host, on the official ``ollama`` client.

Every model call of the app goes through the router (``server.services.llm.router``), which sends
it to one ``OllamaGateway`` per host. A gateway turns Ollama's failures into the
service error tree (``DependencyDown`` when Ollama is down, slow or breaks off; ``NotFound`` for a
model that is not installed), tracks whether Ollama is reachable and publishes every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import ollama

from server.bus import EventBus, utcnow
from server.events import OllamaStatusChanged
from server.services.errors import DependencyDown, InvalidInput, NotFound

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence

log = logging.getLogger(__name__)

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class OllamaStatus:
    """What the last contact with Ollama found."""

    host: str
    reachable: bool
    models_available: int = 0
    detail: str = "not checked yet"
    checked_at: datetime | None = field(default=None)


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """A model Ollama has on disk."""

    name: str
    size: int
    modified_at: datetime | None
    digest: str
    family: str | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None
    format: str | None = None


@dataclass(frozen=True, slots=True)
class ModelDetails:
    """What ``/api/show`` says about one model."""

    name: str
    capabilities: tuple[str, ...]
    context_length: int | None
    family: str | None
    parameter_size: str | None
    quantization_level: str | None
    parameters: str | None
    template: str | None
    modified_at: datetime | None


@dataclass(frozen=True, slots=True)
class PullProgress:
    """One step of a model download."""

    status: str
    completed: int | None = None
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        """Share of the current layer downloaded, when Ollama says."""
        if self.total and self.completed is not None:
            return min(1.0, self.completed / self.total)
        return None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed reply; the last one (``done``) carries Ollama's own timings."""

    text: str
    done: bool = False
    model: str = ""
    done_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_ns: int = 0
    load_ns: int = 0
    prompt_eval_ns: int = 0
    eval_ns: int = 0


@dataclass(frozen=True, slots=True)
class Generation:
    """A whole reply with Ollama's timings."""

    text: str
    model: str
    done_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    total_ns: int
    load_ns: int
    prompt_eval_ns: int
    eval_ns: int

    @property
    def tokens_per_second(self) -> float:
        """Generation speed as Ollama measured it."""
        return self.completion_tokens / (self.eval_ns / NS) if self.eval_ns else 0.0

    @classmethod
    def from_chunks(cls, text: str, final: Chunk) -> Generation:
        return cls(
            text=text,
            model=final.model,
            done_reason=final.done_reason,
            prompt_tokens=final.prompt_tokens,
            completion_tokens=final.completion_tokens,
            total_ns=final.total_ns,
            load_ns=final.load_ns,
            prompt_eval_ns=final.prompt_eval_ns,
            eval_ns=final.eval_ns,
        )


@dataclass(frozen=True, slots=True)
class Embeddings:
    """Vectors for some texts, and how many tokens Ollama read to make them."""

    vectors: list[list[float]]
    model: str
    prompt_tokens: int


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


SETTINGS_HINT = "change OLLAMA_HOST"
REGISTERED_HINT = "correct its URL in the Hosts panel"


def describe_failure(host: str, exc: BaseException, hint: str = SETTINGS_HINT) -> str:
    """Say in words what went wrong talking to Ollama and what the operator can do (``hint``: how
    to point the app elsewhere; the settings' host and a registered host are fixed in different places)."""
    if isinstance(exc, ConnectionError | httpx.ConnectError):
        return f"Ollama is not reachable at {host}: start it (ollama serve) or {hint}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"Ollama at {host} did not answer in time: it may be busy loading a model"
    if isinstance(exc, ollama.ResponseError):
        return f"Ollama at {host} answered with an error ({exc.status_code}): {exc.error}"
    if isinstance(exc, httpx.TransportError):
        return f"Ollama at {host} broke off the connection ({type(exc).__name__}): is it still running?"
    return f"Talking to Ollama at {host} failed: {exc}"


def _chunk(part: ollama.GenerateResponse | ollama.ChatResponse, text: str) -> Chunk:
    if not part.done:
        return Chunk(text=text)
    return Chunk(
        text=text,
        done=True,
        model=part.model or "",
        done_reason=part.done_reason,
        prompt_tokens=part.prompt_eval_count or 0,
        completion_tokens=part.eval_count or 0,
        total_ns=part.total_duration or 0,
        load_ns=part.load_duration or 0,
        prompt_eval_ns=part.prompt_eval_duration or 0,
        eval_ns=part.eval_duration or 0,
    )


@dataclass(frozen=True, slots=True)
class RunningModel:
    """A model Ollama holds in memory now (``/api/ps``)."""

    name: str
    size_vram: int


class OllamaGateway:
    """Talks to one Ollama host, tracks whether it is reachable and publishes every change.

    ``on_status``, when given, receives every new status instead of the bus: the router uses it to
    publish one aggregate ``OllamaStatusChanged`` for all its hosts.
    """

    def __init__(
        self,
        host: str,
        bus: EventBus,
        *,
        timeout: float,
        generate_timeout: float = 600.0,
        on_status: Callable[[OllamaStatus], None] | None = None,
        hint: str = SETTINGS_HINT,
    ) -> None:
        self.host = host.rstrip("/")
        self._hint = hint
        self._bus = bus
        self._on_status = on_status
        # Short calls (list, show, delete) fail fast; generation may wait long between tokens
        # while a big model loads, so it has its own client with a longer read timeout.
        self._client = ollama.AsyncClient(host=self.host, timeout=timeout)
        self._stream_client = ollama.AsyncClient(
            host=self.host, timeout=httpx.Timeout(generate_timeout, connect=timeout)
        )
        self._status = OllamaStatus(host=self.host, reachable=False)

    @property
    def status(self) -> OllamaStatus:
        """The result of the latest contact."""
        return self._status

    def _record(self, reachable: bool, detail: str, models: int | None = None) -> OllamaStatus:
        previous = self._status
        count = previous.models_available if models is None else models
        status = OllamaStatus(
            host=self.host, reachable=reachable, models_available=count, detail=detail, checked_at=utcnow()
        )
        self._status = status
        if self._on_status is not None:
            self._on_status(status)
            return status
        if (previous.reachable, previous.models_available, previous.checked_at is None) != (
            reachable,
            count,
            False,
        ):
            log.log(logging.INFO if reachable else logging.WARNING, "Ollama: %s", detail)
            self._bus.publish(
                OllamaStatusChanged(
                    host=self.host, reachable=reachable, models_available=count, detail=detail
                )
            )
        return status

    @contextlib.contextmanager
    def _translated(self, model: str | None = None) -> Iterator[None]:
        """Turn Ollama's failures into service errors, and note when Ollama stops answering."""
        try:
            yield
        except ollama.ResponseError as exc:
            if exc.status_code == 404 and model is not None:
                raise NotFound(
                    f"Model '{model}' is not installed in Ollama at {self.host}: pull it in the Models "
                    f"panel or with POST /api/v1/ollama/models/pull/{model}"
                ) from exc
            if exc.status_code == 400:
                raise InvalidInput(f"Ollama refused the request: {exc.error}") from exc
            raise DependencyDown(describe_failure(self.host, exc, self._hint)) from exc
        except (ConnectionError, httpx.TransportError, TimeoutError) as exc:
            detail = describe_failure(self.host, exc, self._hint)
            if isinstance(exc, ConnectionError | httpx.ConnectError):
                self._record(False, detail)
            raise DependencyDown(detail) from exc

    # -- reachability --

    async def probe(self) -> OllamaStatus:
        """Ask Ollama for its models; record and publish whether it answered."""
        try:
            listing = await self._client.list()
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError, TimeoutError) as exc:
            return self._record(False, describe_failure(self.host, exc, self._hint))
        count = len(listing.models)
        return self._record(True, f"{count} model{'s' if count != 1 else ''} installed", count)

    async def version(self) -> str:
        """Ollama's version (``/api/version``); raises like the other calls."""
        with self._translated():
            # The official client has no method for it; its raw request keeps its error handling.
            response = await self._client._request_raw("GET", "/api/version")
        return str(response.json().get("version") or "")

    async def running(self) -> list[RunningModel]:
        """The models in memory now, with the VRAM each uses (``/api/ps``)."""
        with self._translated():
            listing = await self._client.ps()
        return [
            RunningModel(name=entry.model or entry.name or "", size_vram=int(entry.size_vram or 0))
            for entry in listing.models
        ]

    async def watch(self, interval: float) -> None:
        """Probe again every ``interval`` seconds, forever."""
        while True:
            await asyncio.sleep(interval)
            await self.probe()

    async def close(self) -> None:
        """Release the HTTP connections."""
        await self._client.close()
        await self._stream_client.close()

    # -- models --

    async def list_models(self) -> list[InstalledModel]:
        """The installed models, newest first."""
        with self._translated():
            listing = await self._client.list()
        models = [
            InstalledModel(
                name=entry.model or "",
                size=entry.size or 0,
                modified_at=_parse_time(entry.modified_at),
                digest=entry.digest or "",
                family=entry.details.family if entry.details else None,
                parameter_size=entry.details.parameter_size if entry.details else None,
                quantization_level=entry.details.quantization_level if entry.details else None,
                format=entry.details.format if entry.details else None,
            )
            for entry in listing.models
        ]
        count = len(models)
        self._record(True, f"{count} model{'s' if count != 1 else ''} installed", count)
        return models

    async def model_names(self) -> list[str]:
        """Names of the installed models."""
        return [model.name for model in await self.list_models()]

    async def show(self, name: str) -> ModelDetails:
        """Capabilities, context length and parameters of one model."""
        with self._translated(name):
            shown = await self._client.show(name)
        info: Mapping[str, Any] = shown.modelinfo or {}
        context = next((value for key, value in info.items() if key.endswith(".context_length")), None)
        details = shown.details
        return ModelDetails(
            name=name,
            capabilities=tuple(shown.capabilities or ()),
            context_length=int(context) if context is not None else None,
            family=details.family if details else None,
            parameter_size=details.parameter_size if details else None,
            quantization_level=details.quantization_level if details else None,
            parameters=shown.parameters,
            template=shown.template,
            modified_at=_parse_time(shown.modified_at),
        )

    async def pull(self, name: str) -> AsyncIterator[PullProgress]:
        """Download ``name``, yielding Ollama's progress as it comes."""
        with self._translated(name):
            stream = await self._stream_client.pull(name, stream=True)
            async with contextlib.aclosing(stream):
                async for part in stream:
                    yield PullProgress(status=part.status or "", completed=part.completed, total=part.total)

    async def delete(self, name: str) -> None:
        """Remove an installed model."""
        with self._translated(name):
            await self._client.delete(name)

    # -- generation --

    async def generate_stream(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        format: str | dict[str, Any] | None = None,
        purpose: str = "",
    ) -> AsyncIterator[Chunk]:
        """Stream a completion of ``prompt``; the last chunk has ``done`` and the timings."""
        with self._translated(model):
            stream = await self._stream_client.generate(
                model, prompt, system=system, options=options, format=format, stream=True
            )
            async with contextlib.aclosing(stream):
                async for part in stream:
                    yield _chunk(part, part.response or "")

    async def chat_stream(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        format: str | dict[str, Any] | None = None,
        purpose: str = "",
    ) -> AsyncIterator[Chunk]:
        """Stream the assistant's next message; the last chunk has ``done`` and the timings."""
        with self._translated(model):
            stream = await self._stream_client.chat(
                model, messages=messages, options=options, format=format, stream=True
            )
            async with contextlib.aclosing(stream):
                async for part in stream:
                    yield _chunk(part, part.message.content or "")

    async def embed(self, model: str, inputs: Sequence[str], *, purpose: str = "") -> list[list[float]]:
        """One embedding per input text."""
        return (await self.embeddings(model, inputs, purpose=purpose)).vectors

    async def embeddings(
        self,
        model: str,
        inputs: Sequence[str],
        *,
        purpose: str = "",
    ) -> Embeddings:
        """One embedding per input text, with the tokens Ollama read."""
        with self._translated(model):
            result = await self._client.embed(model, list(inputs))
        return Embeddings(
            vectors=[list(vector) for vector in result.embeddings],
            model=result.model or model,
            prompt_tokens=result.prompt_eval_count or 0,
        )


async def collect(chunks: AsyncIterator[Chunk]) -> Generation:
    """Join a streamed reply into one ``Generation``."""
    parts: list[str] = []
    final: Chunk | None = None
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        async for chunk in chunks:
            parts.append(chunk.text)
            if chunk.done:
                final = chunk  # read on to the end: the connection then goes back to the pool
    if final is None:
        raise DependencyDown("Ollama ended the reply without its final message: is it still running?")
    return Generation.from_chunks("".join(parts), final)
