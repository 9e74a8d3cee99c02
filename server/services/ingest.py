"""Sources, ingest runs and their schedule: connector -> stored items -> semantic index.

A run asks the source's connector for what is new since the state it left last time, extracts and
stores the items batch by batch (one transaction each), hands new and changed items to the index,
and only then saves the connector's new state: a run whose storing fails leaves the state where it
was, so the next run fetches the same items again (and de-duplication by hash makes that safe).

Schedules: the ``content_sources`` table is the one source of truth. On start every enabled source
with a schedule gets an APScheduler job under a stable id (``ingest-<source id>``, added with
``replace_existing``), so a restart neither loses nor doubles a schedule, and no second job store
has to be kept in step with the table. An interval source that missed its time while the app was
down runs once soon after start (coalesced), then keeps its interval.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from server.bus import utcnow
from server.db.models.content import ContentSourceRow, IngestRunRow
from server.events import IngestFinished, IngestProgressed
from server.services.connectors.base import ConnectorError
from server.services.content import Incoming
from server.services.errors import Conflict, FieldError, InvalidInput, NotFound

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus
    from server.services.connectors.base import Connector
    from server.services.content import ContentService, Prepared

log = logging.getLogger(__name__)

Kind = Literal["web", "filesystem", "communication", "social"]
KINDS: tuple[str, ...] = ("web", "filesystem", "communication", "social")
RunStatus = Literal["running", "succeeded", "partial", "failed", "interrupted"]


class Connectors(Protocol):
    """Connectors by kind: a plain mapping (tests) or the app's ``ConnectorRegistry``."""

    def get(self, kind: str) -> Connector | None: ...


class Schedule(BaseModel):
    """Every ``interval_seconds``, or on a crontab line (``cron``, five fields, UTC)."""

    model_config = ConfigDict(extra="forbid")

    interval_seconds: int | None = Field(None, ge=1, le=366 * 24 * 3600)
    cron: str | None = Field(None, min_length=1, max_length=100, examples=["*/15 * * * *"])

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ValueError("give exactly one of interval_seconds or cron")
        return self


class Source(BaseModel):
    """A source and where its schedule stands."""

    id: str
    name: str
    kind: str
    config: dict[str, Any]
    schedule: Schedule | None
    enabled: bool
    last_run: dict[str, Any] | None = Field(description="Summary of the latest finished run")
    next_run_at: datetime | None = Field(description="When the scheduler runs it next (None: not scheduled)")
    created_at: datetime
    updated_at: datetime


class Failure(BaseModel):
    """An entry that could not be ingested, and why."""

    ref: str
    reason: str


class IngestRun(BaseModel):
    """One run of a source."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    source_id: str
    trigger: Literal["manual", "schedule"]
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    new_count: int
    changed_count: int
    unchanged_count: int
    failed_count: int
    failures: list[Failure]
    error: str | None


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """Connector metadata may hold datetimes and such; the JSON columns take their text."""
    return dict(json.loads(json.dumps(value, default=str)))


def _summary(run: IngestRun) -> dict[str, Any]:
    return run.model_dump(mode="json", exclude={"failures"})


class IngestService:
    """Sources (CRUD, test), ingest runs (now or on schedule) and the scheduler that runs them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        content: ContentService,
        connectors: Connectors,
        *,
        batch_size: int = 100,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._content = content
        self._connectors = connectors
        self._batch_size = batch_size
        self._active: dict[str, asyncio.Task[IngestRun]] = {}
        self._opening: set[str] = set()
        self._scheduler: Any = None  # apscheduler's AsyncIOScheduler once started (imported late)

    # -- lifetime --

    async def start(self) -> None:
        """Close runs a previous process left open, start the scheduler and schedule every source."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        async with self._sessions.begin() as session:
            await session.execute(
                update(IngestRunRow)
                .where(IngestRunRow.status == "running")
                .values(status="interrupted", finished_at=utcnow(), error="the app stopped during the run")
            )
            rows = (await session.scalars(select(ContentSourceRow))).all()
        self._scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(),
            timezone=UTC,
            # One run per source at a time; runs missed while busy or down fold into one.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler.start()
        for row in rows:
            self._schedule(row)

    async def stop(self) -> None:
        """Stop the scheduler and cancel runs in progress (their rows end as ``interrupted`` next start)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        runs = list(self._active.values())
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    # -- sources --

    def _connector(self, kind: str) -> Connector:
        try:
            connector = self._connectors.get(kind)
        except FieldError:  # the app's registry refuses unknown kinds itself
            connector = None
        if connector is None:
            raise FieldError(("kind",), f"No connector for kind '{kind}' (kinds: {', '.join(KINDS)})")
        return connector

    def _validate(self, kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """The connector's check of ``config``; a refused field is reported under ``config``."""
        try:
            return self._connector(kind).validate(config)
        except FieldError as exc:
            if exc.field[:1] == ("kind",):
                raise
            raise FieldError(("config", *exc.field), str(exc)) from None

    @staticmethod
    def _check_schedule(schedule: Schedule | None) -> None:
        if schedule is None or schedule.cron is None:
            return
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(schedule.cron, timezone=UTC)
        except ValueError as exc:
            raise FieldError(("schedule", "cron"), f"Bad cron expression '{schedule.cron}': {exc}") from exc

    async def test_config(self, kind: str, config: Mapping[str, Any]) -> str:
        """Validate ``config`` and reach the source once, storing nothing; a line saying what was found."""
        checked = self._validate(kind, config)
        try:
            return await self._connector(kind).test(checked)
        except ConnectorError as exc:
            raise InvalidInput(f"The source cannot be read: {exc}") from exc

    async def create_source(
        self,
        *,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        schedule: Schedule | None = None,
        enabled: bool = True,
        test: bool = True,
    ) -> Source:
        """Validate, optionally test, store and schedule a source."""
        checked = self._validate(kind, config)
        self._check_schedule(schedule)
        if test:
            await self.test_config(kind, checked)
        row = ContentSourceRow(
            name=name,
            kind=kind,
            config=_json_safe(checked),
            state={},
            interval_seconds=schedule.interval_seconds if schedule else None,
            cron=schedule.cron if schedule else None,
            enabled=enabled,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"A source named '{name}' exists already") from exc
        self._schedule(row)
        return self._source(row)

    async def update_source(self, source_id: str, changes: Mapping[str, Any]) -> Source:
        """Change name, config (validated), schedule (``None`` removes it) or enabled."""
        async with self._sessions() as session:
            row = await self._row(session, source_id)
            config = row.config
            if "config" in changes:
                config = _json_safe(self._validate(row.kind, changes["config"]))
            schedule = changes.get("schedule", self._schedule_of(row))
            self._check_schedule(schedule)
            if "name" in changes:
                row.name = changes["name"]
            if "enabled" in changes:
                row.enabled = bool(changes["enabled"])
            if config != row.config:
                row.config, row.state = config, {}  # another feed or folder: start afresh
            row.interval_seconds = schedule.interval_seconds if schedule else None
            row.cron = schedule.cron if schedule else None
            row.updated_at = utcnow()
            try:
                await session.commit()
            except IntegrityError as exc:
                raise Conflict(f"A source named '{changes.get('name')}' exists already") from exc
        self._schedule(row)
        return self._source(row)

    async def delete_source(self, source_id: str) -> None:
        """Forget a source, its runs and its schedule; its items stay (without a source)."""
        async with self._sessions.begin() as session:
            await session.delete(await self._row(session, source_id))
        self._unschedule(source_id)

    async def get_source(self, source_id: str) -> Source:
        async with self._sessions() as session:
            return self._source(await self._row(session, source_id))

    async def list_sources(self) -> list[Source]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(ContentSourceRow).order_by(ContentSourceRow.name))).all()
        return [self._source(row) for row in rows]

    async def test_source(self, source_id: str) -> str:
        """Reach a stored source once."""
        source = await self.get_source(source_id)
        return await self.test_config(source.kind, source.config)

    @staticmethod
    async def _row(session: AsyncSession, source_id: str) -> ContentSourceRow:
        row = await session.get(ContentSourceRow, source_id)
        if row is None:
            raise NotFound(f"Content source {source_id} not found")
        return row

    @staticmethod
    def _schedule_of(row: ContentSourceRow) -> Schedule | None:
        if row.interval_seconds is None and row.cron is None:
            return None
        return Schedule(interval_seconds=row.interval_seconds, cron=row.cron)

    def _source(self, row: ContentSourceRow) -> Source:
        return Source(
            id=row.id,
            name=row.name,
            kind=row.kind,
            config=row.config,
            schedule=self._schedule_of(row),
            enabled=row.enabled,
            last_run=row.last_run,
            next_run_at=self.next_run_at(row.id),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # -- schedule --

    @staticmethod
    def _job_id(source_id: str) -> str:
        return f"ingest-{source_id}"

    def next_run_at(self, source_id: str) -> datetime | None:
        """When the scheduler runs this source next; ``None`` when it is not scheduled."""
        job = self._scheduler.get_job(self._job_id(source_id)) if self._scheduler is not None else None
        when = getattr(job, "next_run_time", None)
        return when.astimezone(UTC) if when is not None else None

    def _unschedule(self, source_id: str) -> None:
        if self._scheduler is not None and self._scheduler.get_job(self._job_id(source_id)) is not None:
            self._scheduler.remove_job(self._job_id(source_id))

    def _schedule(self, row: ContentSourceRow) -> None:
        if self._scheduler is None:
            return
        if not row.enabled or (row.interval_seconds is None and row.cron is None):
            self._unschedule(row.id)
            return
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        extra: dict[str, Any] = {}
        if row.cron is not None:
            trigger: Any = CronTrigger.from_crontab(row.cron, timezone=UTC)
        else:
            interval = timedelta(seconds=row.interval_seconds or 0)
            trigger = IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC)
            # Due again one interval after the last run began (at once when that time has passed,
            # e.g. after a restart); a new source waits one interval.
            last = (row.last_run or {}).get("started_at")
            anchor = datetime.fromisoformat(last) if last else utcnow()
            extra["next_run_time"] = max(utcnow(), anchor + interval)
        self._scheduler.add_job(
            self._scheduled_run,
            trigger,
            args=[row.id],
            id=self._job_id(row.id),
            name=f"ingest {row.name}",
            replace_existing=True,
            **extra,
        )

    async def _scheduled_run(self, source_id: str) -> None:
        if source_id in self._active or source_id in self._opening:
            log.info("Source %s is still being ingested; this scheduled run is skipped", source_id)
            return
        try:
            await self._launch(source_id, "schedule")
        except NotFound:
            self._unschedule(source_id)

    # -- runs --

    async def run_now(self, source_id: str) -> IngestRun:
        """Start a run in the background and return it (``running``); follow it on the bus or
        ``runs()``. ``Conflict`` when the source is being ingested already."""
        if source_id in self._active or source_id in self._opening:
            raise Conflict(f"Source {source_id} is being ingested already")
        run = await self._open(source_id, "manual")
        self._track(source_id, self._ingest(source_id, run))
        return run

    async def _launch(self, source_id: str, trigger: Literal["manual", "schedule"]) -> IngestRun:
        run = await self._open(source_id, trigger)
        return await self._track(source_id, self._ingest(source_id, run))

    async def _open(self, source_id: str, trigger: Literal["manual", "schedule"]) -> IngestRun:
        """Record a new run; the source counts as busy from the first moment, so two calls that
        arrive together cannot both start one."""
        self._opening.add(source_id)
        try:
            return await self._open_run(source_id, trigger)
        finally:
            self._opening.discard(source_id)

    def _track(self, source_id: str, coro: Any) -> asyncio.Task[IngestRun]:
        task: asyncio.Task[IngestRun] = asyncio.create_task(coro, name=f"ingest-{source_id}")
        self._active[source_id] = task
        task.add_done_callback(lambda _: self._active.pop(source_id, None))
        return task

    async def runs(self, source_id: str, *, limit: int = 20, offset: int = 0) -> list[IngestRun]:
        """A source's runs, newest first."""
        async with self._sessions() as session:
            await self._row(session, source_id)
            rows = (
                await session.scalars(
                    select(IngestRunRow)
                    .where(IngestRunRow.source_id == source_id)
                    .order_by(IngestRunRow.started_at.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        return [IngestRun.model_validate(row) for row in rows]

    async def _open_run(self, source_id: str, trigger: str) -> IngestRun:
        async with self._sessions.begin() as session:
            await self._row(session, source_id)
            row = IngestRunRow(
                source_id=source_id, trigger=trigger, status="running", started_at=utcnow(), failures=[]
            )
            session.add(row)
            await session.flush()
            return IngestRun.model_validate(row)

    async def _ingest(self, source_id: str, run: IngestRun) -> IngestRun:
        """Fetch, store, index, then record the run and (unless it failed) the connector's state."""
        async with self._sessions() as session:
            source = await self._row(session, source_id)
            kind, config, state = source.kind, dict(source.config), copy.deepcopy(source.state)
        counts = {"new": 0, "changed": 0, "unchanged": 0}
        failures: list[dict[str, str]] = []
        status: RunStatus = "succeeded"
        error = None
        try:
            connector = self._connector(kind)
            result = await connector.fetch_new(config, state)
            counts["unchanged"] += result.unchanged
            failures += [{"ref": ref, "reason": why} for ref, why in result.failures]
            total, done = len(result.items), 0
            self._progress(source_id, run.id, done, total, counts, failures)
            indexing: asyncio.Task[str | None] | None = None
            try:
                for start in range(0, total, self._batch_size):
                    batch = result.items[start : start + self._batch_size]
                    incoming = [
                        Incoming(
                            body=item.body,
                            ref=item.ref,
                            url=item.url,
                            title=item.title,
                            claimed_mime=item.mime_type,
                            metadata=_json_safe({**item.metadata, "fetched_at": item.fetched_at}),
                        )
                        for item in batch
                    ]
                    prepared: list[Prepared] = []
                    for item, outcome in zip(batch, await self._content.prepare_many(incoming), strict=True):
                        if isinstance(outcome, InvalidInput):
                            failures.append({"ref": item.ref, "reason": str(outcome)})
                        else:
                            prepared.append(outcome)
                    stored = await self._content.store(prepared, source_id)
                    for outcome in stored:
                        counts[outcome.status] += 1
                    fresh = [outcome.item for outcome in stored if outcome.status != "unchanged"]
                    # Embedding this batch overlaps with extracting and storing the next one; one
                    # batch is indexed at a time, so the progress below lags by at most one batch.
                    if indexing is not None:
                        self._indexed(await indexing, failures)
                    indexing = asyncio.create_task(self._content.index_items(fresh, kind))
                    done += len(batch)
                    self._progress(source_id, run.id, done, total, counts, failures)
                if indexing is not None:
                    self._indexed(await indexing, failures)
                    indexing = None
            except asyncio.CancelledError:
                if indexing is not None:
                    indexing.cancel()
                raise
            except Exception:
                if indexing is not None:  # the batch stored before the failure is still indexed
                    self._indexed(await indexing, failures)
                raise
        except (ConnectorError, FieldError) as exc:
            status, error = "failed", f"The source cannot be read: {exc}"
        except SQLAlchemyError as exc:
            # The failed batch is rolled back and the state is not advanced: the next run fetches
            # these entries again (earlier batches of this run stay stored; they come back unchanged).
            status, error = "failed", f"Storing the items failed; the next run tries them again: {exc}"
            log.warning("Ingest of source %s: %s", source_id, error)
        else:
            if failures:
                status = "partial"
        return await self._close_run(
            run, status, error, counts, failures, None if status == "failed" else state
        )

    @staticmethod
    def _indexed(index_error: str | None, failures: list[dict[str, str]]) -> None:
        if index_error is not None:
            failures.append({"ref": "(index)", "reason": f"stored but not indexed: {index_error}"})

    def _progress(
        self,
        source_id: str,
        run_id: str,
        done: int,
        total: int,
        counts: dict[str, int],
        failures: list[dict[str, str]],
    ) -> None:
        self._bus.publish(
            IngestProgressed(
                source_id=source_id,
                run_id=run_id,
                done=done,
                total=total,
                new=counts["new"],
                changed=counts["changed"],
                failed=len(failures),
            )
        )

    async def _close_run(
        self,
        run: IngestRun,
        status: RunStatus,
        error: str | None,
        counts: dict[str, int],
        failures: list[dict[str, str]],
        state: dict[str, Any] | None,
    ) -> IngestRun:
        """Record the run's end and, in the same transaction, the source's new state and summary."""
        async with self._sessions.begin() as session:
            row = await session.get(IngestRunRow, run.id)
            source = await session.get(ContentSourceRow, run.source_id)
            if row is None or source is None:  # the source was deleted during the run
                return run
            row.status = status
            row.error = error
            row.finished_at = utcnow()
            row.new_count, row.changed_count = counts["new"], counts["changed"]
            row.unchanged_count, row.failed_count = counts["unchanged"], len(failures)
            row.failures = failures
            finished = IngestRun.model_validate(row)
            source.last_run = _summary(finished)
            if state is not None:
                source.state = _json_safe(state)
        self._bus.publish(IngestFinished(run=finished))
        log.info(
            "Ingest of source %s %s: %d new, %d changed, %d unchanged, %d failed",
            run.source_id,
            status,
            finished.new_count,
            finished.changed_count,
            finished.unchanged_count,
            finished.failed_count,
        )
        return finished
