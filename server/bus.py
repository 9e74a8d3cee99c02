"""The in-process event bus: typed events, bounded subscriber queues, drop-oldest on overflow.

One bus feeds the WebSockets, the GUI panels, tray notifications and log persistence. Publishing
never blocks and never waits for a subscriber: a subscriber that falls behind loses its oldest
events and counts them in ``dropped``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

DEFAULT_QUEUE_SIZE = 1000


def utcnow() -> datetime:
    """Timezone-aware now in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Base of every event; ``at`` is when it happened."""

    at: datetime = field(default_factory=utcnow)


E = TypeVar("E", bound=Event)


class Subscription(Generic[E]):
    """A bounded queue of the events one subscriber asked for; iterate it to receive them."""

    def __init__(self, bus: EventBus, types: tuple[type[E], ...], maxsize: int) -> None:
        self._bus = bus
        self.types = types
        self._queue: asyncio.Queue[E] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """Queue ``event`` if it is wanted, dropping the oldest one when full."""
        if not isinstance(event, self.types):
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> E:
        """Wait for the next event."""
        return await self._queue.get()

    def pending(self) -> int:
        """How many events wait to be read."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[E]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[E]:
        while True:
            yield await self._queue.get()

    def __enter__(self) -> Subscription[E]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventBus:
    """Fan events out to subscribers without ever blocking the publisher."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription[Event]] = []

    def subscribe(self, *types: type[E], maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription[E]:
        """Receive events of ``types`` (all events when none are given)."""
        wanted: tuple[type[E], ...] = types or (Event,)  # type: ignore[assignment]
        subscription = Subscription(self, wanted, maxsize)
        self._subscriptions.append(subscription)  # type: ignore[arg-type]
        return subscription

    def unsubscribe(self, subscription: Subscription[E]) -> None:
        """Forget ``subscription``; unknown ones are ignored."""
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)  # type: ignore[arg-type]

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every interested subscriber. Call it on the loop's thread."""
        for subscription in tuple(self._subscriptions):
            subscription.offer(event)

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscriptions)
