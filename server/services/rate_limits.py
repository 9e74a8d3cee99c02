"""Token buckets: each caller and kind of request gets ``limit`` requests per ``period`` seconds,
refilled continuously, so a burst is allowed up to the limit and then one request per refill."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_BUCKETS = 10_000  # the least recently used are forgotten beyond this (a forgotten bucket is full)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Buckets by key; ``take`` answers how long to wait, or ``None`` when the request may go."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, ...], _Bucket] = OrderedDict()

    def take(self, key: tuple[str, ...], limit: int, period: float) -> float | None:
        """Spend one token from ``key``'s bucket (``limit`` per ``period`` seconds).

        Returns ``None`` when allowed, else the seconds until a token is back (nothing is spent)."""
        now = self._clock()
        rate = limit / period
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(limit), updated=now)
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / rate

    def remaining(self, key: tuple[str, ...], limit: int, period: float) -> int:
        """Whole tokens left in ``key``'s bucket now (without spending one)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return limit
        refilled = bucket.tokens + (self._clock() - bucket.updated) * limit / period
        return int(min(float(limit), refilled))

    def wait(self, key: tuple[str, ...], limit: int, period: float) -> float | None:
        """Seconds until ``key`` has a token again, or ``None`` when it has one now (nothing spent)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        rate = limit / period
        tokens = min(float(limit), bucket.tokens + (self._clock() - bucket.updated) * rate)
        return None if tokens >= 1 else (1 - tokens) / rate
