"""The Ollama hosts the router sends calls to: what each is, what its probes found, and where they are kept.

The host from the settings (``OLLAMA_HOST``) is always there as ``default``: it is configuration, not
data, so it is never stored and cannot be removed through the API (change the setting instead).
Every other host is registered at run time and kept in the ``ollama_hosts`` table, so it survives a
restart; the token of an ``agentic-server`` on the same box is stored encrypted with the secrets
vault's key and never read back out through the API.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.bus import utcnow
from server.db.models.hosts import OllamaHostRow
from server.services.errors import AgenticError, Conflict, FieldError, NotFound
from server.services.host_directory import HostState, HostView

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.services.breaker import CircuitBreaker
    from server.services.llm.gateway import OllamaGateway

log = logging.getLogger(__name__)

DEFAULT_HOST_ID = "default"
HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SLOW_PROBE_S = 2.0  # a probe slower than this marks the host degraded
EWMA_ALPHA = 0.2  # weight of the newest latency in the moving average


def normalize_url(url: str, field_name: str = "url") -> str:
    """``http(s)://host[:port]`` without a trailing slash, or a 422 saying what is wrong."""
    text = url.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise FieldError((field_name,), f"Not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(
            (field_name,), "Give an http:// or https:// URL with a host, e.g. http://gpu-box:11434"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise FieldError((field_name,), "The URL must not carry a query, a fragment or credentials")
    del port
    return text


@dataclass(frozen=True, slots=True)
class HostSpec:
    """How a host was registered."""

    id: str
    url: str
    supported_request_types: tuple[str, ...] = ()  # empty: every kind of request
    max_concurrent_requests: int = 4
    weight: float = 1.0
    agentic_url: str | None = None
    has_agentic_token: bool = False
    builtin: bool = False  # the settings' host
    created_at: datetime | None = None

    def serves(self, request_type: str | None) -> bool:
        """Whether requests of this type may go to the host."""
        types = self.supported_request_types
        return not types or "*" in types or request_type is None or request_type in types


@dataclass(eq=False)
class Host:
    """One host at run time: its client, breaker and what the latest probe and calls found."""

    spec: HostSpec
    gateway: OllamaGateway
    breaker: CircuitBreaker
    reachable: bool = False
    probed: bool = False
    detail: str = "not checked yet"
    models: frozenset[str] = frozenset()
    loaded: dict[str, int] = field(default_factory=dict)  # model -> VRAM bytes
    version: str | None = None
    probe_s: float | None = None
    state: HostState = "down"
    reason: str = "not checked yet"
    in_flight: int = 0
    ewma_s: float | None = None
    requests: int = 0
    failures: int = 0
    retries: int = 0  # calls that failed here before the first token and went elsewhere
    last_error: str | None = None
    last_probe_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    def observe_latency(self, seconds: float) -> None:
        self.ewma_s = (
            seconds if self.ewma_s is None else (1 - EWMA_ALPHA) * self.ewma_s + EWMA_ALPHA * seconds
        )

    def assess(self) -> tuple[HostState, str]:
        """The state its probes, breaker and recent calls add up to, and why, in words."""
        if not self.reachable:
            return "down", self.detail
        breaker = self.breaker
        if breaker.state == "open":
            return "degraded", (
                f"circuit breaker open after {breaker.consecutive_failures} failures, next try in "
                f"{breaker.retry_after():.0f} s (last: {self.last_error})"
            )
        if breaker.state == "half_open":
            return (
                "degraded",
                f"circuit breaker half-open: a trial call is checking it (last: {self.last_error})",
            )
        if breaker.consecutive_failures:
            return "degraded", f"{breaker.consecutive_failures} recent failure(s): {self.last_error}"
        if self.probe_s is not None and self.probe_s > SLOW_PROBE_S:
            return "degraded", f"slow: its last probe took {self.probe_s:.1f} s"
        count, running = len(self.models), len(self.loaded)
        return "healthy", f"{count} model{'s' if count != 1 else ''} installed, {running} loaded"

    def view(self) -> HostView:
        return HostView(
            id=self.id,
            url=self.spec.url,
            state=self.state,
            reason=self.reason,
            models=tuple(sorted(self.models)),
            loaded=tuple(sorted(self.loaded)),
            in_flight=self.in_flight,
            max_concurrent=self.spec.max_concurrent_requests,
            breaker=self.breaker.state,
            vram_used=sum(self.loaded.values()),
            version=self.version,
            latency_ms=None if self.ewma_s is None else round(self.ewma_s * 1000, 1),
            weight=self.spec.weight,
            supported_request_types=self.spec.supported_request_types,
        )


async def probe_host(host: Host) -> None:
    """Ask the host for its version, installed models and loaded models; note what it said."""
    started = time.monotonic()
    gateway = host.gateway
    try:
        version, models, running = await asyncio.gather(
            gateway.version(), gateway.list_models(), gateway.running()
        )
    except AgenticError as exc:
        host.reachable, host.detail = False, str(exc)
    except ValueError as exc:  # something answers there, but not with Ollama's JSON
        host.reachable, host.detail = False, f"{host.spec.url} does not answer like Ollama: {exc}"
    else:
        host.reachable = True
        host.version = version
        host.models = frozenset(model.name for model in models)
        host.loaded = {model.name: model.size_vram for model in running}
        count = len(host.models)
        host.detail = f"{count} model{'s' if count != 1 else ''} installed"
    host.probed = True
    host.probe_s = time.monotonic() - started
    host.last_probe_at = utcnow()


class HostStore:
    """The registered hosts in the database (the settings' host is not stored)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        encrypt: Callable[[str], str],
        decrypt: Callable[[str], str],
    ) -> None:
        self._sessions = sessions
        self._encrypt = encrypt
        self._decrypt = decrypt

    async def load(self) -> list[HostSpec]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(OllamaHostRow).order_by(OllamaHostRow.created_at))).all()
        return [self._spec(row) for row in rows]

    async def add(self, spec: HostSpec, agentic_token: str | None) -> HostSpec:
        row = OllamaHostRow(
            id=spec.id,
            url=spec.url,
            supported_request_types=list(spec.supported_request_types),
            max_concurrent_requests=spec.max_concurrent_requests,
            weight=spec.weight,
            agentic_url=spec.agentic_url,
            agentic_token_encrypted=self._encrypt(agentic_token) if agentic_token else None,
            created_at=utcnow(),
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict(
                f"A host with the id '{spec.id}' or the URL {spec.url} is already registered"
            ) from None
        return self._spec(row)

    async def agentic_token(self, host_id: str) -> str | None:
        """The decrypted agentic-server token of a host (for the app's own use, never the API)."""
        async with self._sessions() as session:
            row = await session.get(OllamaHostRow, host_id)
        if row is None or row.agentic_token_encrypted is None:
            return None
        return self._decrypt(row.agentic_token_encrypted)

    async def remove(self, host_id: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(OllamaHostRow, host_id)
            if row is None:
                raise NotFound(f"No host with the id '{host_id}'")
            await session.delete(row)

    @staticmethod
    def _spec(row: OllamaHostRow) -> HostSpec:
        return HostSpec(
            id=row.id,
            url=row.url,
            supported_request_types=tuple(row.supported_request_types or ()),
            max_concurrent_requests=row.max_concurrent_requests,
            weight=row.weight,
            agentic_url=row.agentic_url,
            has_agentic_token=row.agentic_token_encrypted is not None,
            created_at=row.created_at,
        )
