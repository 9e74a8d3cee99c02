"""The circuit breaker opens after repeated failures, lets one probe through later, and closes on success."""

from __future__ import annotations

import pytest

from server.services.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_failures_and_probes_once_after_the_timeout() -> None:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        failure_threshold=3, reset_timeout=10, clock=clock, on_change=lambda a, b: changes.append((a, b))
    )
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.retry_after() == pytest.approx(10)
    clock.now += 10
    assert breaker.allow()
    assert breaker.state == "half_open"
    assert not breaker.allow(), "only one probe while half-open"
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 0
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failed_probe_opens_again_and_a_success_resets_the_count() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=5, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed", "failures must be consecutive"
    breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.opened_count == 2
    assert not breaker.allow()


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CircuitBreaker(failure_threshold=0)
