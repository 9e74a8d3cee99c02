"""Connector kinds by name, and the one-off runs behind the API: a preview of one source, a discover
over several at once.

``ConnectorRegistry`` makes each kind's connector on first use (factories, so a kind that needs the
HTTP client or the vault gets it from here) and keeps it, because the web connector's robots.txt
cache and per-host rate limits only help when they outlive a run. A preview stores nothing: it runs
the connector with a fresh ``state`` and returns what it found; storing is the ingestion pipeline's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.services.connectors._common import BadConfig, SourceRefused
from server.services.connectors.base import (
    Connector,
    ConnectorError,
    ConnectorUnavailable,
    FetchResult,
)
from server.services.errors import AgenticError, DependencyDown, FieldError, InvalidInput, NotFound

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from concurrent.futures import Executor

    import httpx

    from server.services.connectors._common import ResolveSecret
    from server.services.secrets import SecretsService

log = logging.getLogger(__name__)

DISCOVER_CONCURRENCY = 8


def vault_resolver(secrets: SecretsService) -> ResolveSecret:
    """Connector credentials from the secrets vault: an agent's secret by name, audited as a decrypt
    by the content connectors. A missing one is a ``SourceRefused`` saying where to add it."""
    from server.services.secrets import Actor

    actor = Actor("content connector", "task")

    async def resolve(name: str, agent_id: str) -> str:
        try:
            return await secrets.value(agent_id, name, actor)
        except NotFound as exc:
            raise SourceRefused(
                f"{exc}: add it in the Secrets panel or with POST /api/v1/agents/{agent_id}/secrets"
            ) from None

    return resolve


class UnknownKind(FieldError, InvalidInput):
    """No connector of that kind; the message lists the valid ones."""


@dataclass(slots=True)
class SourceOutcome:
    """What one source of a discover run gave: a result, or why there is none."""

    kind: str
    result: FetchResult | None = None
    status: str = "ok"  # ok, failed (could not be read), unavailable (needs an account/token)
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


class ConnectorRegistry:
    """The connectors the app can run, by kind."""

    def __init__(
        self,
        factories: Mapping[str, Callable[[], Connector]] | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        resolve_secret: ResolveSecret | None = None,
        web_rate_per_second: float = 2.0,
        web_parse_executor: Executor | None = None,
    ) -> None:
        self._http_client = http_client
        self._web_parse_executor = web_parse_executor
        self._resolve_secret = resolve_secret
        self._web_rate = web_rate_per_second
        self._factories: dict[str, Callable[[], Connector]] = (
            dict(factories) if factories is not None else self._default_factories()
        )
        self._made: dict[str, Connector] = {}

    def _default_factories(self) -> dict[str, Callable[[], Connector]]:
        from server.services.connectors.communication import CommunicationConnector
        from server.services.connectors.filesystem import FilesystemConnector
        from server.services.connectors.social import SocialConnector
        from server.services.connectors.web import WebConnector

        return {
            "web": lambda: WebConnector(
                self._http_client, rate_per_second=self._web_rate, parse_executor=self._web_parse_executor
            ),
            "filesystem": FilesystemConnector,
            "communication": lambda: CommunicationConnector(self._resolve_secret),
            "social": SocialConnector,
        }

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def register(self, kind: str, factory: Callable[[], Connector]) -> None:
        """Add (or replace) a kind; how a new connector plugs in."""
        self._factories[kind] = factory
        self._made.pop(kind, None)

    def get(self, kind: str, *, at: tuple[str | int, ...] = ("type",)) -> Connector:
        """The connector of ``kind``; ``UnknownKind`` (422 at ``at``) lists the valid kinds."""
        if kind not in self._factories:
            valid = ", ".join(self._factories)
            raise UnknownKind(at, f"unknown connector type '{kind}'; valid types: {valid}")
        connector = self._made.get(kind)
        if connector is None:
            connector = self._made[kind] = self._factories[kind]()
        return connector

    def validate(
        self, kind: str, config: Mapping[str, Any], *, at: tuple[str | int, ...] = ("config",)
    ) -> dict[str, Any]:
        """The config checked by its connector; a refused field is reported under ``at``."""
        connector = self.get(kind, at=(*at[:-1], "type"))
        try:
            return connector.validate(config)
        except BadConfig as exc:
            raise BadConfig((*at, *exc.field), str(exc)) from None

    async def close(self) -> None:
        """Close what the connectors opened (the web connector's own HTTP client)."""
        for connector in self._made.values():
            closer = getattr(connector, "aclose", None)
            if closer is not None:
                await closer()
        self._made.clear()

    async def preview(self, kind: str, config: Mapping[str, Any]) -> FetchResult:
        """Run the source once with a fresh state, storing nothing.

        ``ConnectorUnavailable`` passes through (the API says 501 with what is missing); a source
        that refused the config is an ``InvalidInput`` (400); one that cannot be reached is a
        ``DependencyDown`` (503) naming it."""
        checked = self.validate(kind, config)
        try:
            return await self.get(kind).fetch_new(checked, {})
        except ConnectorUnavailable:
            raise
        except ConnectorError as exc:
            if isinstance(exc, AgenticError):
                raise
            raise DependencyDown(str(exc)) from None

    async def discover(self, sources: list[tuple[str, Mapping[str, Any]]]) -> list[SourceOutcome]:
        """Run several sources at once; each gets its own outcome, and one failure sinks no other.

        Every config is validated first: one bad config refuses the whole request (nothing runs)."""
        checked = [
            self.validate(kind, config, at=("sources", index, "config"))
            for index, (kind, config) in enumerate(sources)
        ]
        gate = asyncio.Semaphore(DISCOVER_CONCURRENCY)

        async def run(kind: str, config: dict[str, Any]) -> SourceOutcome:
            async with gate:
                try:
                    result = await self.get(kind).fetch_new(config, {})
                except ConnectorUnavailable as exc:
                    return SourceOutcome(kind, status="unavailable", error=str(exc), config=config)
                except (ConnectorError, AgenticError) as exc:
                    return SourceOutcome(kind, status="failed", error=str(exc), config=config)
                except Exception as exc:
                    log.exception("Connector %s failed unexpectedly", kind)
                    return SourceOutcome(
                        kind, status="failed", error=f"internal error: {exc!r}", config=config
                    )
            return SourceOutcome(kind, result=result, config=config)

        return list(
            await asyncio.gather(
                *(run(kind, config) for (kind, _), config in zip(sources, checked, strict=True))
            )
        )
