"""The only door to models: the Ollama gateway, on the official ``ollama`` client."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import ollama

from server.bus import EventBus, OllamaStatusChanged, utcnow

if TYPE_CHECKING:
    from datetime import datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OllamaStatus:
    """What the last probe of Ollama found."""

    host: str
    reachable: bool
    models_available: int = 0
    detail: str = "not checked yet"
    checked_at: datetime | None = field(default=None)


def describe_failure(host: str, exc: BaseException) -> str:
    """Say in words what went wrong talking to Ollama and what the operator can do."""
    if isinstance(exc, ConnectionError | httpx.ConnectError):
        return f"Ollama is not reachable at {host}: start it (ollama serve) or change OLLAMA_HOST"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"Ollama at {host} did not answer in time: it may be busy loading a model"
    if isinstance(exc, ollama.ResponseError):
        return f"Ollama at {host} answered with an error ({exc.status_code}): {exc.error}"
    return f"Talking to Ollama at {host} failed: {exc}"


class OllamaGateway:
    """Talks to one Ollama host, tracks whether it is reachable and publishes every change."""

    def __init__(self, host: str, bus: EventBus, *, timeout: float) -> None:
        self.host = host.rstrip("/")
        self._bus = bus
        self._client = ollama.AsyncClient(host=self.host, timeout=timeout)
        self._status = OllamaStatus(host=self.host, reachable=False)

    @property
    def status(self) -> OllamaStatus:
        """The result of the latest probe."""
        return self._status

    async def probe(self) -> OllamaStatus:
        """Ask Ollama for its models; record and publish whether it answered."""
        try:
            listing = await self._client.list()
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError, TimeoutError) as exc:
            status = OllamaStatus(
                host=self.host,
                reachable=False,
                detail=describe_failure(self.host, exc),
                checked_at=utcnow(),
            )
        else:
            count = len(listing.models)
            status = OllamaStatus(
                host=self.host,
                reachable=True,
                models_available=count,
                detail=f"{count} model{'s' if count != 1 else ''} installed",
                checked_at=utcnow(),
            )
        previous, self._status = self._status, status
        if (previous.reachable, previous.models_available, previous.checked_at is None) != (
            status.reachable,
            status.models_available,
            False,
        ):
            log.log(logging.INFO if status.reachable else logging.WARNING, "Ollama: %s", status.detail)
            self._bus.publish(
                OllamaStatusChanged(
                    host=self.host,
                    reachable=status.reachable,
                    models_available=status.models_available,
                    detail=status.detail,
                )
            )
        return status

    async def watch(self, interval: float) -> None:
        """Probe again every ``interval`` seconds, forever."""
        while True:
            await asyncio.sleep(interval)
            await self.probe()

    async def close(self) -> None:
        """Release the HTTP connections."""
        await self._client.close()
