"""A circuit breaker per remote host: stop calling a host that keeps failing, probe it now and then.

closed: calls pass; ``failure_threshold`` failures in a row open it.
open: calls are refused until ``reset_timeout`` seconds have passed; then one probe call may pass.
half_open: the probe is in flight; its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts consecutive failures of one host and says whether the next call may go."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._on_change = on_change
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self.opened_count = 0  # how often it has opened since start

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose timeout ran out reads half_open only once probed)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when calls may go now)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def allow(self) -> bool:
        """Whether a call may go now; an open breaker past its timeout lets exactly one probe go."""
        if self._state == "closed":
            return True
        if self._state == "open" and self.retry_after() == 0.0:
            self._set("half_open")
            return True
        return False  # open and cooling down, or half-open with its probe in flight

    def record_success(self) -> None:
        self._failures = 0
        if self._state != "closed":
            self._set("closed")

    def record_failure(self) -> None:
        self._failures += 1
        tripped = self._state == "closed" and self._failures >= self.failure_threshold
        if self._state == "half_open" or tripped:
            self._opened_at = self._clock()
            self.opened_count += 1
            self._set("open")

    def _set(self, state: BreakerState) -> None:
        previous, self._state = self._state, state
        if self._on_change is not None and previous != state:
            self._on_change(previous, state)
