"""The one interface every content connector implements (web, filesystem, communication, social).

A connector turns a source's configuration into fetched items: ``fetch_new`` returns what is new or
changed since the last run. What it needs to remember between runs (ETags, Last-Modified, file mtimes,
the last IMAP UID) lives in ``state``, a JSON-able dict the caller persists with the source and hands
back next time, so a restart loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


class ConnectorError(Exception):
    """The source cannot be read (bad configuration, host down, refused by robots.txt...); says why."""


class ConnectorUnavailable(ConnectorError):
    """This kind of connector needs something this app does not have (an account, a token, a library)."""


@dataclass(frozen=True, slots=True)
class FetchedItem:
    """One piece of content as the source gave it."""

    ref: str  # stable key of the item within its source: URL, file path, Message-ID
    body: bytes
    fetched_at: datetime
    title: str | None = None
    url: str | None = None  # where the operator can open it (http(s) URL or file:// path)
    mime_type: str | None = None  # what the source claimed (Content-Type, extension); bytes decide
    metadata: dict[str, Any] = field(default_factory=dict)  # author, published, feed, sender, ...


@dataclass(slots=True)
class FetchResult:
    """What one run of a connector found."""

    items: list[FetchedItem] = field(default_factory=list)
    unchanged: int = 0  # entries skipped because they did not change since the last run
    failures: list[tuple[str, str]] = field(default_factory=list)  # (ref, why) of entries that failed


class Connector(Protocol):
    """Discover -> fetch -> items, for one kind of source."""

    kind: str  # "web", "filesystem", "communication" or "social"

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config checked and normalised; ``server.services.errors.InvalidInput`` says what is wrong."""
        ...

    async def test(self, config: Mapping[str, Any]) -> str:
        """Reach the source once without storing anything; a line saying what was found.

        Raises ``ConnectorError`` with the reason when it cannot be read.
        """
        ...

    async def fetch_new(self, config: Mapping[str, Any], state: dict[str, Any]) -> FetchResult:
        """Items new or changed since the run that left ``state``; updates ``state`` in place."""
        ...
