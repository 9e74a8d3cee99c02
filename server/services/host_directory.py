"""What the router knows about each Ollama host, as read by the model registry and the window.

The router (``server/services/llm/router.py``) implements ``HostDirectory``; the model registry
(``server/services/model_registry.py``) and the Hosts panel only read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from server.services.llm import OllamaGateway

HostState = Literal["healthy", "degraded", "down"]


@dataclass(frozen=True, slots=True)
class HostView:
    """One Ollama host as its latest probe found it."""

    id: str
    url: str
    state: HostState
    reason: str  # why it is in that state, in words ("3 models installed", "connection refused", ...)
    models: tuple[str, ...]  # installed (/api/tags)
    loaded: tuple[str, ...]  # in memory now (/api/ps)
    # Added for the Hosts panel and the load-balancer routes (defaults keep older callers working).
    in_flight: int = 0  # model calls running on the host now
    max_concurrent: int = 0  # max_concurrent_requests (0: unknown)
    breaker: str = "closed"  # the host's circuit breaker: closed, open or half_open
    vram_used: int = 0  # bytes of VRAM the loaded models use (/api/ps size_vram)
    version: str | None = None  # Ollama's version, when the last probe got it
    latency_ms: float | None = None  # recent latency of its calls (EWMA), when it has served one
    weight: float = 1.0
    supported_request_types: tuple[str, ...] = ()  # empty: every kind of request


class HostDirectory(Protocol):
    """The hosts the app can send model calls to."""

    def views(self) -> list[HostView]:
        """Every known host, in a stable order."""
        ...

    def gateway(self, host_id: str) -> OllamaGateway:
        """The client for one host (KeyError for an unknown id)."""
        ...
