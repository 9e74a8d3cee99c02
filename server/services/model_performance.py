"""Model performance from the outcomes of real calls: requests, success rate, latency, tokens/s.

Every finished model call is published on the bus as ``ModelCallFinished`` (by the router). The
``PerformanceStore`` subscribes, folds each call into running totals per (model, task type) in
memory, and writes the changed totals to the database in one transaction every few seconds and on
stop: the hot path never waits for a database write. The totals are loaded at start, so they
survive a restart. Readers (the API, model selection) read the in-memory totals: no query per read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from server.bus import utcnow
from server.db.models.model_performance import ModelPerformanceRow
from server.events import ModelCallFinished

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus, Subscription

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 5.0  # seconds between writes of changed totals
WINDOW = 200  # latest successful calls the latency percentiles are computed over
ALL = "all"  # the task type of the totals over every task type


@dataclass(slots=True)
class Totals:
    """Running totals of one model's calls for one task type (or for all of them)."""

    model: str
    task_type: str
    requests: int = 0
    successes: int = 0
    failures: int = 0
    total_duration_s: float = 0.0  # successful calls only: a failure's duration says little
    first_token_count: int = 0
    total_first_token_s: float = 0.0
    tps_count: int = 0
    total_tps: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    last_error: str | None = None
    last_called_at: datetime | None = None
    updated_at: datetime | None = None

    def add(self, call: ModelCallFinished) -> None:
        """Fold one finished call in."""
        self.requests += 1
        self.last_called_at = call.at
        self.updated_at = utcnow()
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        if not call.ok:
            self.failures += 1
            self.last_error = call.error
            return
        self.successes += 1
        self.total_duration_s += call.duration_s
        self.recent.append(call.duration_s)
        if call.first_token_s is not None:
            self.first_token_count += 1
            self.total_first_token_s += call.first_token_s
        if call.tokens_per_second > 0:
            self.tps_count += 1
            self.total_tps += call.tokens_per_second

    def merge(self, other: Totals) -> None:
        """Add ``other``'s totals (to build the all-task-types view)."""
        self.requests += other.requests
        self.successes += other.successes
        self.failures += other.failures
        self.total_duration_s += other.total_duration_s
        self.first_token_count += other.first_token_count
        self.total_first_token_s += other.total_first_token_s
        self.tps_count += other.tps_count
        self.total_tps += other.total_tps
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.recent.extend(other.recent)
        if other.last_called_at is not None and (
            self.last_called_at is None or other.last_called_at > self.last_called_at
        ):
            self.last_called_at = other.last_called_at
            self.last_error = other.last_error or self.last_error
        if other.updated_at is not None and (self.updated_at is None or other.updated_at > self.updated_at):
            self.updated_at = other.updated_at

    def stats(self) -> ModelStats:
        """What the totals say; figures without any call behind them are ``None``, never made up."""
        recent = sorted(self.recent)
        return ModelStats(
            model=self.model,
            task_type=self.task_type,
            requests=self.requests,
            successes=self.successes,
            failures=self.failures,
            success_rate=self.successes / self.requests if self.requests else None,
            mean_latency_s=self.total_duration_s / self.successes if self.successes else None,
            p50_latency_s=_quantile(recent, 0.50),
            p95_latency_s=_quantile(recent, 0.95),
            mean_first_token_s=(
                self.total_first_token_s / self.first_token_count if self.first_token_count else None
            ),
            tokens_per_second=self.total_tps / self.tps_count if self.tps_count else None,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            last_error=self.last_error,
            last_called_at=self.last_called_at,
            updated_at=self.updated_at,
        )

    def row(self) -> ModelPerformanceRow:
        return ModelPerformanceRow(
            model=self.model,
            task_type=self.task_type,
            requests=self.requests,
            successes=self.successes,
            failures=self.failures,
            total_duration_s=self.total_duration_s,
            first_token_count=self.first_token_count,
            total_first_token_s=self.total_first_token_s,
            tps_count=self.tps_count,
            total_tps=self.total_tps,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            recent_durations_s=list(self.recent),
            last_error=self.last_error,
            last_called_at=self.last_called_at,
            updated_at=self.updated_at or utcnow(),
        )

    @classmethod
    def from_row(cls, row: ModelPerformanceRow) -> Totals:
        return cls(
            model=row.model,
            task_type=row.task_type,
            requests=row.requests,
            successes=row.successes,
            failures=row.failures,
            total_duration_s=row.total_duration_s,
            first_token_count=row.first_token_count,
            total_first_token_s=row.total_first_token_s,
            tps_count=row.tps_count,
            total_tps=row.total_tps,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            recent=deque((float(value) for value in row.recent_durations_s or ()), maxlen=WINDOW),
            last_error=row.last_error,
            last_called_at=row.last_called_at,
            updated_at=row.updated_at,
        )


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    # Linear interpolation between closest ranks, as numpy's default does.
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass(frozen=True, slots=True)
class ModelStats:
    """The performance of one model for one task type (``"all"``: over every task type)."""

    model: str
    task_type: str
    requests: int
    successes: int
    failures: int
    success_rate: float | None
    mean_latency_s: float | None
    p50_latency_s: float | None
    p95_latency_s: float | None
    mean_first_token_s: float | None
    tokens_per_second: float | None
    prompt_tokens: int
    completion_tokens: int
    last_error: str | None
    last_called_at: datetime | None
    updated_at: datetime | None

    @property
    def performance_score(self) -> float | None:
        """0..1 from the success rate and the mean latency; ``None`` until a call was recorded."""
        if self.success_rate is None:
            return None
        speed = 1.0 / (1.0 + self.mean_latency_s / 10.0) if self.mean_latency_s is not None else 0.0
        return round(0.7 * self.success_rate + 0.3 * speed, 4)

    @classmethod
    def empty(cls, model: str, task_type: str = ALL) -> ModelStats:
        """A model never called: zero counts and no figures."""
        return Totals(model=model, task_type=task_type).stats()


class PerformanceStore:
    """Aggregates ``ModelCallFinished`` events per (model, task type) and keeps them in the database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self._sessions = sessions
        self._flush_interval = flush_interval
        self._totals: dict[tuple[str, str], Totals] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._lock = asyncio.Lock()
        self.recorded = 0  # calls folded in since start
        self._snapshot: dict[tuple[str, str], ModelStats] = {}
        self._stale_models: set[str] = set()
        # Subscribed at once, so no call finished between construction and run() is lost.
        self._subscription: Subscription[ModelCallFinished] = bus.subscribe(ModelCallFinished, maxsize=10_000)

    async def load(self) -> None:
        """Read the stored totals (at start)."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(ModelPerformanceRow))).all()
        self._totals = {(row.model, row.task_type): Totals.from_row(row) for row in rows}
        self._snapshot = {}
        self._stale_models = {model for model, _ in self._totals}
        log.info("Model performance: %d records loaded", len(self._totals))

    def record(self, call: ModelCallFinished) -> None:
        """Fold one finished call in (the subscriber does this for every published call)."""
        key = (call.model, call.purpose or "unknown")
        totals = self._totals.get(key)
        if totals is None:
            totals = self._totals[key] = Totals(model=key[0], task_type=key[1])
        totals.add(call)
        self._dirty.add(key)
        self._stale_models.add(key[0])
        self.recorded += 1

    async def run(self) -> None:
        """Consume published calls and write changed totals every ``flush_interval`` seconds."""
        flusher = asyncio.create_task(self._flush_periodically(), name="model-performance-flush")
        try:
            async for call in self._subscription:
                self.record(call)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            while self._subscription.pending():
                self.record(await self._subscription.get())
            self._subscription.close()
            await asyncio.shield(self.flush())

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            try:
                await self.flush()
            except Exception:  # the database may be away for a moment: retry next time
                log.warning("Could not save model performance; will retry", exc_info=True)

    async def flush(self) -> None:
        """Write every changed total now, in one transaction."""
        async with self._lock:
            if not self._dirty:
                return
            keys, self._dirty = self._dirty, set()
            rows = [self._totals[key].row() for key in keys]
            try:
                async with self._sessions.begin() as session:
                    for row in rows:
                        await session.merge(row)
            except BaseException:
                self._dirty |= keys  # written next time
                raise

    # -- reading --

    def stats(self, model: str, task_type: str | None = None) -> ModelStats:
        """One model's figures for ``task_type``, or over all task types; zero counts when never called."""
        if task_type is not None:
            totals = self._totals.get((model, task_type))
            return totals.stats() if totals is not None else ModelStats.empty(model, task_type)
        return self._combined(model, (t for (name, _), t in self._totals.items() if name == model)).stats()

    def by_task_type(self, model: str) -> list[ModelStats]:
        """One model's figures per task type it was called for."""
        return sorted(
            (totals.stats() for (name, _), totals in self._totals.items() if name == model),
            key=lambda stats: stats.task_type,
        )

    def all_stats(self, *, task_type: str | None = None, model: str | None = None) -> list[ModelStats]:
        """Every recorded (model, task type), most requested first."""
        found = [
            totals.stats()
            for (name, kind), totals in self._totals.items()
            if (task_type is None or kind == task_type) and (model is None or name == model)
        ]
        return sorted(found, key=lambda stats: (-stats.requests, stats.model, stats.task_type))

    def models(self) -> set[str]:
        """Every model with recorded calls."""
        return {name for name, _ in self._totals}

    def snapshot(self) -> dict[tuple[str, str], ModelStats]:
        """Figures per (model, task type) and per (model, ``"all"``), for model selection.

        Kept up to date incrementally: only the models called since the last snapshot are
        recomputed, so a selection never pays for sorting every latency window.
        """
        if self._stale_models:
            stale, self._stale_models = self._stale_models, set()
            for name in stale:
                parts = [totals for (model, _), totals in self._totals.items() if model == name]
                for totals in parts:
                    self._snapshot[(name, totals.task_type)] = totals.stats()
                self._snapshot[(name, ALL)] = self._combined(name, parts).stats()
        return self._snapshot

    @staticmethod
    def _combined(model: str, parts: Iterable[Totals]) -> Totals:
        combined = Totals(model=model, task_type=ALL, recent=deque(maxlen=WINDOW * 8))
        for totals in parts:
            combined.merge(totals)
        return combined
