"""Structured log entries: published at once on the bus, written to the database in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from server.bus import utcnow
from server.db.models import LogRow
from server.events import LogRecorded

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus

log = logging.getLogger(__name__)

Level = Literal["debug", "info", "warning", "error"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error")
FLUSH_INTERVAL = 0.25
FLUSH_BATCH = 1000


class LogEntry(BaseModel):
    """One log entry, in the spec's field names."""

    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    level: Level
    message: str
    agent_id: str | None = None
    task_id: str | None = None
    source: str


def levels_from(minimum: Level) -> tuple[Level, ...]:
    """``minimum`` and every more severe level."""
    return LEVELS[LEVELS.index(minimum) :]


class LogService:
    """Records log entries and answers questions about past ones.

    ``record`` never waits: the entry goes on the bus immediately (WebSockets, the window) and into
    a buffer that a background task writes out in one transaction per batch. Reads flush first, so
    they always see what was recorded before them.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self._sessions = sessions
        self._bus = bus
        self._pending: list[dict[str, object]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def record(
        self,
        level: Level,
        message: str,
        *,
        source: str,
        agent_id: str | None = None,
        task_id: str | None = None,
    ) -> LogEntry:
        """Publish and queue one entry for writing."""
        entry = LogEntry(
            timestamp=utcnow(),
            level=level,
            message=message,
            agent_id=agent_id,
            task_id=task_id,
            source=source,
        )
        self._pending.append(entry.model_dump())
        if len(self._pending) >= FLUSH_BATCH:
            self._wake.set()
        self._bus.publish(LogRecorded(entry=entry))
        return entry

    async def run(self) -> None:
        """Write queued entries every ``FLUSH_INTERVAL`` seconds (sooner when many wait)."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
                self._wake.clear()
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        """Write every queued entry now."""
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending[:FLUSH_BATCH], self._pending[FLUSH_BATCH:]
                try:
                    async with self._sessions.begin() as session:
                        await session.execute(insert(LogRow), batch)
                except IntegrityError:
                    await self._write_one_by_one(batch)

    async def _write_one_by_one(self, batch: list[dict[str, object]]) -> None:
        # An entry whose agent or task was deleted meanwhile cannot be kept; the rest can.
        for row in batch:
            try:
                async with self._sessions.begin() as session:
                    await session.execute(insert(LogRow), [row])
            except IntegrityError:
                log.debug("Dropped a log entry of a deleted agent or task: %s", row.get("message"))

    async def for_task(self, task_id: str, *, limit: int = 1000) -> list[LogEntry]:
        """A task's entries, oldest first."""
        await self.flush()
        query = select(LogRow).where(LogRow.task_id == task_id).order_by(LogRow.id).limit(limit)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [LogEntry.model_validate(row, from_attributes=True) for row in rows]

    async def history(
        self,
        *,
        agent_id: str | None = None,
        task_id: str | None = None,
        level: Level | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[LogEntry]:
        """Past entries, newest first; ``level`` keeps that level and the more severe ones."""
        await self.flush()
        query = select(LogRow)
        if agent_id is not None:
            query = query.where(LogRow.agent_id == agent_id)
        if task_id is not None:
            query = query.where(LogRow.task_id == task_id)
        if level is not None:
            query = query.where(LogRow.level.in_(levels_from(level)))
        if search:
            query = query.where(LogRow.message.icontains(search, autoescape=True))
        query = query.order_by(LogRow.id.desc()).limit(limit).offset(offset)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [LogEntry.model_validate(row, from_attributes=True) for row in rows]
