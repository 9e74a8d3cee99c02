"""What the router knows about each Ollama host, as read by the model registry and the window.

The router (``server/services/router.py``) implements ``HostDirectory``; the model registry
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


class HostDirectory(Protocol):
    """The hosts the app can send model calls to."""

    def views(self) -> list[HostView]:
        """Every known host, in a stable order."""
        ...

    def gateway(self, host_id: str) -> OllamaGateway:
        """The client for one host (KeyError for an unknown id)."""
        ...
