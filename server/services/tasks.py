"""Tasks: queued in order, at most N running at once, each with a timeout, cancellable, logged."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, Integer, String, func, insert, literal, or_, select, update

from server.bus import utcnow
from server.db.base import UtcDateTime, new_id
from server.db.models import AgentRow, TaskRow
from server.events import TaskChanged, TaskProgressed
from server.services.errors import AgenticError, Conflict, DependencyDown, InvalidInput, NotFound
from server.services.task_types import TaskExecutor, TaskInput, parse_task_input

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus
    from server.services.agents import Agent, AgentService
    from server.services.logs import LogService
    from server.services.models import ModelService
    from server.services.security import SecurityService
    from server.services.task_types import Outcome

    # (agent_id, *values, task_id=...) -> values with {{secret:KEY}} replaced (the vault's resolve)
    ResolveSecrets = Callable[..., Awaitable[tuple[Any, ...]]]

log = logging.getLogger(__name__)

Status = Literal["pending", "running", "completed", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
PROGRESS_INTERVAL = 0.2  # seconds between progress events of one task
INTERRUPTED = "The app stopped while this task was running; run it again"


class Task(BaseModel):
    """A task as the API and the window show it."""

    id: str
    agent_id: str
    task_type: str
    status: Status
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    progress: int
    model_usage: dict[str, Any] | None
    resource_usage: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _task(row: TaskRow, progress: int | None = None) -> Task:
    task = Task.model_validate(row, from_attributes=True)
    if progress is not None and task.status == "running":
        task = task.model_copy(update={"progress": progress})
    return task


class TaskService:
    """Queues and runs tasks through the gateway; every change goes on the bus and into the log."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        agents: AgentService,
        models: ModelService,
        logs: LogService,
        executor: TaskExecutor,
        *,
        resolve_secrets: ResolveSecrets | None = None,
        security: SecurityService | None = None,
        max_concurrent: int = 8,
        timeout: float = 1800.0,
        owner: str | None = None,
    ) -> None:
        self._sessions = sessions
        # This instance's id, stamped on the tasks it runs (None: a single box owns every task).
        self._owner = owner
        self._resolve_secrets = resolve_secrets
        self._security = security
        self._usage: dict[str, dict[str, float]] = {}  # resource use of tasks that just ran
        self._agent_of: dict[str, str] = {}  # running task -> its agent
        self._bus = bus
        self._agents = agents
        self._models = models
        self._logs = logs
        self._executor = executor
        self.max_concurrent = max_concurrent
        self.timeout = timeout
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._progress: dict[str, int] = {}
        self._cancel_requested: set[str] = set()
        # Finished (and announced) while their job is still winding down: not counted as running.
        self._winding_down: set[str] = set()
        agents.on_before_delete(self.cancel_for_agent)

    # -- lifecycle --

    async def start(self) -> None:
        """Fail tasks a previous run of this instance left running, re-queue the pending ones, start
        the workers. Tasks other instances sharing the database run now are left alone."""
        now = utcnow()
        interrupted = TaskRow.status == "running"
        if self._owner is not None:
            interrupted &= or_(TaskRow.owner == self._owner, TaskRow.owner.is_(None))
        async with self._sessions.begin() as session:
            await session.execute(
                update(TaskRow)
                .where(interrupted)
                .values(status="failed", error=INTERRUPTED, completed_at=now)
            )
            pending = (
                await session.scalars(
                    select(TaskRow.id).where(TaskRow.status == "pending").order_by(TaskRow.created_at)
                )
            ).all()
        for task_id in pending:
            self._queue.put_nowait(task_id)
        if pending:
            log.info("Re-queued %d pending task(s) from the last run", len(pending))
        self._workers = [
            asyncio.create_task(self._work(), name=f"task-worker-{n}") for n in range(self.max_concurrent)
        ]

    async def stop(self) -> None:
        """Stop taking tasks, then stop the running ones (marked failed); pending ones wait for the
        next start."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        jobs = list(self._running.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    @property
    def active_count(self) -> int:
        """Tasks running now (a task announced as finished no longer counts)."""
        return len(self._running.keys() - self._winding_down)

    def running_agent_ids(self) -> set[str]:
        """The agents that have a task running now."""
        return {agent for task, agent in self._agent_of.items() if task not in self._winding_down}

    @property
    def queued_count(self) -> int:
        """Tasks waiting for a free slot."""
        return self._queue.qsize()

    # -- queries --

    async def get(self, task_id: str) -> Task:
        """One task (its live progress when running)."""
        async with self._sessions() as session:
            row = await session.get(TaskRow, task_id)
        if row is None:
            raise NotFound(f"No task with id {task_id}")
        return _task(row, self._progress.get(task_id))

    async def list(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        agent_type: str | None = None,
        include_dynamic: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks, newest first (plain rows, not ORM objects: lists are read often and in bulk)."""
        query = select(*TaskRow.__table__.columns)
        if agent_id is not None:
            query = query.where(TaskRow.agent_id == agent_id)
        if status is not None:
            query = query.where(TaskRow.status == status)
        if agent_type is not None or not include_dynamic:
            agents = select(AgentRow.id)
            agents = (
                agents.where(AgentRow.agent_type == agent_type)
                if agent_type is not None
                else agents.where(AgentRow.agent_type.is_(None))
            )
            query = query.where(TaskRow.agent_id.in_(agents))
        query = query.order_by(TaskRow.created_at.desc(), TaskRow.id.desc()).limit(limit).offset(offset)
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        tasks = [Task.model_validate(row) for row in rows]
        return [self._live(task) for task in tasks]

    def _live(self, task: Task) -> Task:
        progress = self._progress.get(task.id)
        if progress is None or task.status != "running":
            return task
        return task.model_copy(update={"progress": progress})

    async def counts(self) -> dict[str, int]:
        """How many tasks are in each state."""
        query = select(TaskRow.status, func.count()).group_by(TaskRow.status)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        counts = dict.fromkeys(("pending", "running", "completed", "failed", "cancelled"), 0)
        counts.update({status: int(count) for status, count in rows})
        return counts

    # -- commands --

    async def run(self, agent_id: str, task_input: TaskInput) -> Task:
        """Queue a task for ``agent_id``; it starts when one of the running slots is free."""
        task = Task(
            id=new_id(),
            agent_id=agent_id,
            task_type=task_input.type,
            status="pending",
            input=task_input.model_dump(),
            output=None,
            error=None,
            progress=0,
            model_usage=None,
            created_at=utcnow(),
            started_at=None,
            completed_at=None,
        )
        # One statement inserts the task only if its agent exists and is active: queueing is on
        # the API's hot path, and every statement is a round trip to the database driver's thread.
        values = select(
            literal(task.id, String),
            AgentRow.id,
            literal(task.task_type, String),
            literal("pending", String),
            literal(task.input, JSON),
            literal(0, Integer),
            literal(task.created_at, UtcDateTime),
        ).where(AgentRow.id == agent_id, AgentRow.is_active.is_(True))
        columns = ["id", "agent_id", "task_type", "status", "input", "progress", "created_at"]
        async with self._sessions.begin() as session:
            inserted = await session.execute(insert(TaskRow).from_select(columns, values))
            if inserted.rowcount == 0:
                agent = await session.get(AgentRow, agent_id)
                if agent is None:
                    raise NotFound(f"No agent with id {agent_id}")
                raise InvalidInput(f"Agent '{agent.name}' is inactive: activate it to run tasks")
        self._queue.put_nowait(task.id)
        self._bus.publish(TaskChanged(task=task))
        self._logs.record(
            "info", f"Queued {task.task_type} task", source="task", agent_id=agent_id, task_id=task.id
        )
        return task

    async def cancel(self, task_id: str) -> Task:
        """Cancel a queued or running task."""
        task = await self.get(task_id)
        if task.finished:
            raise Conflict(f"Task {task_id} already {task.status}; there is nothing to cancel")
        self._cancel_requested.add(task_id)
        job = self._running.get(task_id)
        if job is not None:
            job.cancel()
            await asyncio.wait({job})
            task = await self.get(task_id)
            if task.finished:
                return task
            # Cancelled before it had marked itself running.
        return await self._finish(
            task_id, "cancelled", error="Cancelled before it started", message="Cancelled"
        )

    async def cancel_for_agent(self, agent_id: str) -> None:
        """Cancel every unfinished task of an agent (before the agent is deleted)."""
        for task in await self.list(agent_id=agent_id, status="running", limit=1000):
            await self.cancel(task.id)
        for task in await self.list(agent_id=agent_id, status="pending", limit=100_000):
            self._cancel_requested.add(task.id)

    # -- execution --

    async def _work(self) -> None:
        while True:
            task_id = await self._queue.get()
            if task_id in self._cancel_requested:
                self._cancel_requested.discard(task_id)
                continue
            job = asyncio.create_task(self._execute(task_id), name=f"task-{task_id}")
            self._running[task_id] = job
            job.add_done_callback(lambda _job, task_id=task_id: self._forget(task_id))
            # A worker cancelled here (stop()) leaves the job to stop() itself.
            await asyncio.wait({job})

    def _forget(self, task_id: str) -> None:
        self._running.pop(task_id, None)
        self._progress.pop(task_id, None)
        self._cancel_requested.discard(task_id)
        self._winding_down.discard(task_id)
        self._agent_of.pop(task_id, None)

    async def _execute(self, task_id: str) -> None:
        # Claimed in one statement: with a database shared by several boxes (PostgreSQL), a task
        # two of them have queued (each re-queues the pending ones when it starts) runs once.
        async with self._sessions.begin() as session:
            row = await session.scalar(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.status == "pending")
                .values(status="running", started_at=utcnow(), owner=self._owner)
                .returning(TaskRow)
            )
            if row is None:
                return
            agent_id, task_input = row.agent_id, row.input
        self._agent_of[task_id] = agent_id
        started = time.monotonic()
        self._bus.publish(TaskChanged(task=_task(row)))
        timeout, why = self._timeout()
        try:
            async with asyncio.timeout(timeout):
                agent = await self._agents.get(agent_id)
                if self._resolve_secrets is not None:
                    # {{secret:KEY}} references become values here, in memory only: the stored
                    # task input and agent config keep the references.
                    config, task_input = await self._resolve_secrets(
                        agent_id, agent.config, task_input, task_id=task_id
                    )
                    agent = agent.model_copy(update={"config": config})
                model = await self._model_for(agent)
                self._log(
                    agent_id,
                    task_id,
                    "info",
                    f"Running {row.task_type} for agent {agent.name} with model {model}",
                )
                outcome = await self._run_watched(task_id, agent, model, parse_task_input(task_input))
        except TimeoutError:
            error = f"Timed out after {timeout:g} s ({why})"
            if self._security is not None:
                await self._security.record(
                    "EXECUTION_TIMEOUT",
                    f"Task {task_id} ran past {timeout:g} s and was stopped",
                    agent_id=agent_id,
                )
            await self._finish(task_id, "failed", error=error, message=error, level="error")
        except asyncio.CancelledError:
            if task_id in self._cancel_requested:
                await self._finish(task_id, "cancelled", error="Cancelled while running", message="Cancelled")
                return  # the cancellation was ours to handle
            await asyncio.shield(self._finish(task_id, "failed", error=INTERRUPTED, message=INTERRUPTED))
            raise
        except AgenticError as exc:
            await self._finish(task_id, "failed", error=str(exc), message=f"Failed: {exc}", level="error")
        except Exception as exc:
            log.exception("Task %s failed unexpectedly", task_id)
            error = f"Unexpected error: {exc!r}; the server log has details"
            await self._finish(task_id, "failed", error=error, message=error, level="error")
        else:
            elapsed = time.monotonic() - started
            await self._finish(
                task_id,
                "completed",
                output=outcome.output,
                model_usage=outcome.model_usage,
                message=f"Completed in {elapsed:.1f} s",
            )

    def _timeout(self) -> tuple[float, str]:
        """How long a task may run, and what sets that."""
        if self._security is not None:
            ceiling = self._security.policy.resource_limits.max_execution_time
            if ceiling < self.timeout:
                return float(ceiling), f"the {self._security.policy.level} security level's limit"
        return self.timeout, "raise AGENTIC_TASK_TIMEOUT for longer tasks"

    async def _run_watched(self, task_id: str, agent: Agent, model: str, task_input: TaskInput) -> Outcome:
        """Run the task's work while its memory is watched; past the agent's limit it is stopped."""
        work = self._executor.execute(agent, model, task_input, self._reporter(task_id, agent.id))
        if self._security is None:
            return await work
        async with self._security.watch(agent.id, agent.config) as watch:
            job = asyncio.ensure_future(work)
            tripped = asyncio.ensure_future(watch.tripped.wait())
            try:
                await asyncio.wait({job, tripped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                tripped.cancel()
                if not job.done():
                    job.cancel()
                    await asyncio.gather(job, return_exceptions=True)
                watch.finish()
                self._usage[task_id] = watch.usage()
        if not job.cancelled():
            return job.result()  # done first (or failed on its own)
        raise await self._security.resource_exceeded(agent.id, task_id, watch)

    async def _model_for(self, agent: Agent) -> str:
        if agent.model_name:
            return agent.model_name
        model = await self._models.default_model()
        if model is None:
            raise DependencyDown("No model is installed in Ollama: pull one in the Models panel")
        return model

    def _reporter(self, task_id: str, agent_id: str) -> Callable[[int, str], None]:
        last = 0.0

        def report(progress: int, message: str) -> None:
            nonlocal last
            self._progress[task_id] = progress
            now = time.monotonic()
            if now - last >= PROGRESS_INTERVAL or progress >= 100:
                last = now
                self._bus.publish(
                    TaskProgressed(task_id=task_id, agent_id=agent_id, progress=progress, message=message)
                )

        return report

    def _log(self, agent_id: str, task_id: str, level: Any, message: str) -> None:
        self._logs.record(level, message, source="task", agent_id=agent_id, task_id=task_id)

    async def _finish(
        self,
        task_id: str,
        status: Status,
        *,
        message: str,
        error: str | None = None,
        output: dict[str, Any] | None = None,
        model_usage: dict[str, Any] | None = None,
        level: Any = "info",
    ) -> Task:
        async with self._sessions.begin() as session:
            row = await session.get(TaskRow, task_id)
            if row is None:
                raise NotFound(f"No task with id {task_id}")
            row.status, row.error, row.completed_at = status, error, utcnow()
            row.resource_usage = self._usage.pop(task_id, None) or row.resource_usage
            if output is not None:
                row.output, row.model_usage, row.progress = output, model_usage, 100
        task = _task(row)
        if task_id in self._running:
            self._winding_down.add(task_id)
        self._log(task.agent_id, task_id, level, message)
        self._bus.publish(TaskChanged(task=task))
        return task
