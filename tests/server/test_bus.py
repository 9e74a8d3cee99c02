"""The event bus: typed subscriptions, bounded queues, drop-oldest, never blocking."""

from __future__ import annotations

from server.bus import EventBus
from server.events import ApiStarted, OllamaStatusChanged


def _status(n: int) -> OllamaStatusChanged:
    return OllamaStatusChanged(host="h", reachable=True, models_available=n, detail="")


async def test_subscriber_receives_only_the_types_it_asked_for() -> None:
    bus = EventBus()
    with bus.subscribe(ApiStarted) as subscription:
        bus.publish(_status(1))
        bus.publish(ApiStarted(url="http://x"))
        event = await subscription.get()
        assert event == ApiStarted(url="http://x", at=event.at)
        assert subscription.pending() == 0


async def test_subscribing_to_nothing_receives_everything() -> None:
    bus = EventBus()
    with bus.subscribe() as subscription:
        bus.publish(_status(1))
        bus.publish(ApiStarted(url="u"))
        assert subscription.pending() == 2


async def test_slow_subscriber_loses_oldest_events_and_counts_them() -> None:
    bus = EventBus()
    with bus.subscribe(OllamaStatusChanged, maxsize=3) as subscription:
        for n in range(10):
            bus.publish(_status(n))
        assert subscription.dropped == 7
        received = [(await subscription.get()).models_available for _ in range(3)]
    assert received == [7, 8, 9]


async def test_one_full_subscriber_does_not_starve_another() -> None:
    bus = EventBus()
    with bus.subscribe(maxsize=1) as slow, bus.subscribe(maxsize=100) as fast:
        for n in range(50):
            bus.publish(_status(n))
        assert fast.pending() == 50
        assert slow.dropped == 49


async def test_closed_subscription_receives_nothing() -> None:
    bus = EventBus()
    subscription = bus.subscribe()
    subscription.close()
    bus.publish(_status(1))
    assert subscription.pending() == 0
    assert bus.subscriber_count == 0


async def test_events_carry_an_aware_utc_timestamp() -> None:
    event = ApiStarted(url="u")
    assert event.at.utcoffset() is not None
    assert event.at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
