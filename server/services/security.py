"""Security: the policy in force, incidents (recorded, listed, resolved), rate limits, tool checks,
per-task resource watching, and the status, health and per-agent reports built from them."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from server.bus import utcnow
from server.db.models import AgentRow, IncidentRow, TaskRow
from server.events import IncidentChanged, SecurityLevelChanged
from server.services.errors import AgenticError, Conflict, InvalidInput, NotFound, RateLimited
from server.services.rate_limits import RateLimiter
from server.services.security_policy import LEVELS, Level, Policy, policy_for, schema_problems
from server.services.threats import scan

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus
    from server.services.agents import AgentDraft, AgentService
    from server.services.logs import LogService

log = logging.getLogger(__name__)

Violation = Literal[
    "RESOURCE_EXCEEDED",
    "PERMISSION_DENIED",
    "MALICIOUS_CONTENT",
    "RATE_LIMIT_EXCEEDED",
    "SCHEMA_VIOLATION",
    "EXECUTION_TIMEOUT",
]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
DEFAULT_SEVERITY: dict[str, Severity] = {
    "RESOURCE_EXCEEDED": "medium",
    "PERMISSION_DENIED": "high",
    "MALICIOUS_CONTENT": "critical",
    "RATE_LIMIT_EXCEEDED": "low",
    "SCHEMA_VIOLATION": "high",
    "EXECUTION_TIMEOUT": "medium",
}
LOG_LEVEL = {"low": "info", "medium": "warning", "high": "error", "critical": "error"}
BURST_GAP = 60.0  # seconds without a refused request before a new burst gets its own incident
HOUR = 3600.0
WATCH_INTERVAL = 0.2  # seconds between a running task's memory readings
MB = 1024 * 1024
LOGIN_FAILURES, LOGIN_WINDOW = 10, 900.0  # failed logins per username and address per 15 minutes


class ResourceExceeded(AgenticError):
    """A task went past its memory limit and was stopped."""


class SchemaViolation(InvalidInput):
    """An agent's schema breaks the schema-complexity limits (answered as 400)."""


class Incident(BaseModel):
    """A recorded security incident (``id`` and ``incident_id`` are the same)."""

    incident_id: str
    id: str
    agent_id: str | None
    agent_type: str | None
    violation_type: str
    severity: str
    description: str
    timestamp: datetime
    resolved: bool
    resolution_notes: str | None
    resolved_at: datetime | None = None
    resolved_by: str | None = None


class IncidentPage(BaseModel):
    incidents: list[Incident]
    total_count: int
    limit: int
    offset: int


class ToolCheck(BaseModel):
    """The answer of a tool-execution pre-check."""

    allowed: bool
    agent_id: str
    tool_name: str
    reasons: list[str] = Field(default_factory=list)
    errors: list[str] = Field(
        default_factory=list, description="The same as reasons (the web client reads errors)"
    )
    validation_time: float = Field(description="Unix time of the check, as the spec shows")


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        incident_id=row.id,
        id=row.id,
        agent_id=row.agent_id,
        agent_type=row.agent_type,
        violation_type=row.violation_type,
        severity=row.severity,
        description=row.description,
        timestamp=row.timestamp,
        resolved=row.resolved,
        resolution_notes=row.resolution_notes,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
    )


def new_incident_id(now: datetime) -> str:
    """``sec_<epoch seconds>_<6 random hex>``, the spec's form."""
    return f"sec_{int(now.timestamp())}_{secrets.token_hex(3)}"


def process_memory_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / MB


def process_cpu_seconds() -> float:
    import psutil

    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


class SecurityService:
    """The policy in force and everything recorded against it."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        logs: LogService,
        *,
        level: Level,
        allowed_domains: list[str] | None = None,
        save_level: Callable[[Level], None] | None = None,
        agents: AgentService | None = None,
        memory_mb: Callable[[], float] = process_memory_mb,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._logs = logs
        self._allowed_domains = allowed_domains
        self._save_level = save_level
        self._memory_mb = memory_mb
        self.policy: Policy = policy_for(level, allowed_domains)
        self.limiter = RateLimiter()
        self._bursts: dict[tuple[str, ...], float] = {}
        self.agents = agents
        # Filled in by the Backend once the task runner exists.
        self.running_agents: Callable[[], set[str]] = set
        self.vault: Callable[[], dict[str, str]] = dict

    # -- policy --

    async def set_level(self, level: Level, who: str) -> Policy:
        """Switch the level now (and for the next start, in config.toml)."""
        if level not in LEVELS:
            raise ValueError(level)
        self.policy = policy_for(level, self._allowed_domains)
        if self._save_level is not None:
            await asyncio.to_thread(self._save_level, level)
        self._logs.record("warning", f"Security level set to {level} by {who}", source="security")
        self._bus.publish(SecurityLevelChanged(level=level))
        return self.policy

    def check_schema(self, config: dict[str, Any]) -> list[str]:
        """Plain-words problems of an agent's schema under the current policy."""
        return schema_problems(config, self.policy)

    async def enforce_schema(self, draft: AgentDraft) -> None:
        """Refuse (400) and record a SCHEMA_VIOLATION when a new agent's schema breaks the limits
        (the agent service calls this before every create)."""
        problems = self.check_schema(draft.config)
        if problems:
            await self.record(
                "SCHEMA_VIOLATION",
                f"Agent '{draft.name}' refused: " + "; ".join(problems),
                agent_type=draft.agent_type,
            )
            raise SchemaViolation("Agent schema breaks the security limits: " + "; ".join(problems))

    async def disable_agent(self, agent_id: str, reason: str) -> None:
        """Deactivate an agent (malicious content in its input); an unknown id is ignored."""
        if self.agents is None:
            return
        from server.services.agents import AgentPatch

        try:
            agent = await self.agents.update(agent_id, AgentPatch(is_active=False))
        except NotFound:
            return
        self._logs.record(
            "error", f"Agent '{agent.name}' disabled: {reason}", source="security", agent_id=agent_id
        )

    # -- incidents --

    async def record(
        self,
        violation: Violation,
        description: str,
        *,
        agent_id: str | None = None,
        agent_type: str | None = None,
        severity: Severity | None = None,
        details: dict[str, Any] | None = None,
    ) -> Incident:
        """Store an incident, publish it and put it in the log (source ``security``)."""
        now = utcnow()
        row = IncidentRow(
            id=new_incident_id(now),
            agent_id=agent_id,
            agent_type=agent_type,
            violation_type=violation,
            severity=severity or DEFAULT_SEVERITY[violation],
            description=description,
            details=details or {},
            timestamp=now,
            resolved=False,
        )
        agent = None
        async with self._sessions.begin() as session:
            if agent_id is not None:
                agent = await session.get(AgentRow, agent_id)
                if agent_type is None and agent is not None:
                    row.agent_type = agent.agent_type
            session.add(row)
        incident = _incident(row)
        self._logs.record(
            LOG_LEVEL[incident.severity],  # type: ignore[arg-type]
            f"{violation} ({incident.severity}): {description}",
            source="security",
            agent_id=agent_id if agent is not None else None,  # a log entry must name a real agent
        )
        self._bus.publish(IncidentChanged(incident=incident))
        return incident

    async def incidents(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        severity: str | None = None,
        resolved: bool | None = None,
        agent_id: str | None = None,
        since: datetime | None = None,
        violation_type: str | None = None,
    ) -> IncidentPage:
        """Incidents newest first, filtered, with the total that matched."""
        query = select(IncidentRow)
        if severity is not None:
            query = query.where(IncidentRow.severity == severity)
        if resolved is not None:
            query = query.where(IncidentRow.resolved.is_(resolved))
        if agent_id is not None:
            query = query.where(IncidentRow.agent_id == agent_id)
        if since is not None:
            query = query.where(IncidentRow.timestamp >= since)
        if violation_type is not None:
            query = query.where(IncidentRow.violation_type == violation_type)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (
                await session.scalars(
                    query.order_by(IncidentRow.timestamp.desc(), IncidentRow.id).limit(limit).offset(offset)
                )
            ).all()
        return IncidentPage(
            incidents=[_incident(row) for row in rows],
            total_count=int(total or 0),
            limit=limit,
            offset=offset,
        )

    async def resolve(self, incident_id: str, notes: str, who: str) -> Incident:
        """Mark an incident resolved with the operator's notes (409 when it already is)."""
        async with self._sessions.begin() as session:
            row = await session.get(IncidentRow, incident_id)
            if row is None:
                raise NotFound(f"No security incident with id {incident_id}")
            if row.resolved:
                raise Conflict(f"Incident {incident_id} was already resolved by {row.resolved_by}")
            row.resolved, row.resolution_notes = True, notes
            row.resolved_at, row.resolved_by = utcnow(), who
        incident = _incident(row)
        self._logs.record("info", f"Incident {incident_id} resolved by {who}: {notes}", source="security")
        self._bus.publish(IncidentChanged(incident=incident))
        return incident

    async def _counts(self) -> tuple[int, int, int]:
        """(all incidents, unresolved high, unresolved critical)."""
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(IncidentRow))
            open_by_severity = dict(
                (
                    await session.execute(
                        select(IncidentRow.severity, func.count())
                        .where(IncidentRow.resolved.is_(False))
                        .group_by(IncidentRow.severity)
                    )
                ).all()
            )
        return int(total or 0), int(open_by_severity.get("high", 0)), int(open_by_severity.get("critical", 0))

    # -- rate limits --

    async def take(self, caller: str, kind: str, limit: int, period: float, *, what: str) -> None:
        """Spend one request of ``caller``'s ``kind`` budget, or raise 429 and record the burst once."""
        key = (caller, kind)
        wait = self.limiter.take(key, limit, period)
        if wait is None:
            return
        now = time.monotonic()
        last = self._bursts.get(key)
        self._bursts[key] = now
        if last is None or now - last > BURST_GAP:
            await self.record(
                "RATE_LIMIT_EXCEEDED",
                f"{what}: more than {limit} per {_period(period)} from {caller}",
                details={"caller": caller, "kind": kind, "limit": limit, "period_seconds": period},
            )
        raise RateLimited(
            f"Rate limit exceeded: {what} is limited to {limit} per {_period(period)}; "
            f"try again in {max(1, round(wait))} s",
            retry_after=wait,
        )

    # -- logins --

    async def before_login(self, username: str, address: str) -> None:
        """429 while this username from this address has used up its failed attempts."""
        key = ("login", username.lower(), address)
        wait = self.limiter.wait(key, LOGIN_FAILURES, LOGIN_WINDOW)
        if wait is not None:
            raise RateLimited(
                f"Too many failed logins for '{username}' from {address}: "
                f"try again in {max(1, round(wait))} s",
                retry_after=wait,
            )

    async def login_failed(self, username: str, address: str) -> None:
        """Count a failed login; the first of a burst, and the one that locks the account out for this
        address, become incidents."""
        key = ("login", username.lower(), address)
        self.limiter.take(key, LOGIN_FAILURES, LOGIN_WINDOW)
        locked = self.limiter.wait(key, LOGIN_FAILURES, LOGIN_WINDOW) is not None
        now = time.monotonic()
        last = self._bursts.get(key)
        self._bursts[key] = now
        if locked:
            await self.record(
                "RATE_LIMIT_EXCEEDED",
                f"Logins for '{username}' from {address} blocked after {LOGIN_FAILURES} failures",
                severity="medium",
                details={"username": username, "address": address},
            )
        elif last is None or now - last > BURST_GAP:
            await self.record(
                "PERMISSION_DENIED",
                f"Failed login for '{username}' from {address}",
                severity="low",
                details={"username": username, "address": address},
            )

    # -- tools and external requests --

    def domain_allowed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == domain or host.endswith(f".{domain}") for domain in self.policy.allowed_domains)

    async def check_tool(
        self, agent_id: str, tool_name: str, input_data: dict[str, Any], caller: str
    ) -> ToolCheck:
        """Would running ``tool_name`` for ``agent_id`` with ``input_data`` be allowed? Counts against
        the tool's hourly budget; a refusal is recorded as an incident."""
        reasons: list[str] = []
        violation: Violation = "PERMISSION_DENIED"
        async with self._sessions() as session:
            agent = await session.get(AgentRow, agent_id)
        if agent is None:
            raise NotFound(f"No agent with id {agent_id}")
        if not agent.is_active:
            reasons.append(f"agent '{agent.name}' is disabled")
        declared = {
            str(tool.get("name")): str(tool.get("type", tool.get("name")))
            for tool in agent.config.get("tools", [])
            if isinstance(tool, dict)
        }
        kind = declared.get(tool_name, tool_name)
        if kind in self.policy.blocked_tool_types:
            reasons.append(f"tool type '{kind}' is blocked at the {self.policy.level} security level")
        for url in _urls(input_data):
            if not self.domain_allowed(url):
                reasons.append(f"'{urlsplit(url).hostname}' is not an allowed domain")
        finding = scan(input_data, "input_data")
        if finding is not None and self.policy.block_malicious_input:
            reasons.append(f"malicious content: {finding.describe()}")
            violation = "MALICIOUS_CONTENT"
        if not reasons:
            per_hour = self.policy.rate_limits.tool_execution_per_hour
            wait = self.limiter.take((caller, "tool", tool_name), per_hour, HOUR)
            if wait is not None:
                reasons.append(f"tool '{tool_name}' is limited to {per_hour} runs per hour")
                violation = "RATE_LIMIT_EXCEEDED"
        if reasons:
            await self.record(
                violation,
                f"Tool '{tool_name}' refused for agent '{agent.name}': " + "; ".join(reasons),
                agent_id=agent_id,
            )
        return ToolCheck(
            allowed=not reasons,
            errors=reasons,
            agent_id=agent_id,
            tool_name=tool_name,
            reasons=reasons,
            validation_time=time.time(),
        )

    # -- running tasks --

    def memory_limit_mb(self, config: dict[str, Any]) -> float:
        """An agent's memory limit: its ``max_memory_mb`` if set, never above the policy's."""
        ceiling = self.policy.resource_limits.max_agent_memory_mb
        asked = config.get("max_memory_mb")
        return float(min(asked, ceiling)) if isinstance(asked, int | float) and asked > 0 else float(ceiling)

    @asynccontextmanager
    async def watch(self, agent_id: str, config: dict[str, Any]) -> AsyncIterator[ResourceWatch]:
        """Watch the process's memory and CPU time while a task runs (tasks share the process, so
        these are the process's figures over the task's run)."""
        watch = ResourceWatch(self.memory_limit_mb(config), self._memory_mb)
        try:
            yield watch
        finally:
            watch.finish()

    async def resource_exceeded(self, agent_id: str, task_id: str, watch: ResourceWatch) -> ResourceExceeded:
        """Record that ``watch`` tripped and return the error that fails the task."""
        message = (
            f"Task {task_id} stopped: memory {watch.peak_mb:.0f} MB went past the agent's limit of "
            f"{watch.limit_mb:.0f} MB"
        )
        await self.record("RESOURCE_EXCEEDED", message, agent_id=agent_id, details=watch.usage())
        return ResourceExceeded(
            message + " (raise max_memory_mb in the agent's config, up to the level's limit)"
        )

    # -- reports --

    def usage(self) -> dict[str, Any]:
        running = self.running_agents()
        return {"active_agents": len(running), "total_memory_mb": round(self._memory_mb())}

    async def status(self) -> dict[str, Any]:
        """The spec's status: active agents, incidents, limits and usage, plus level and vault."""
        total, _, _ = await self._counts()
        recent = await self.incidents(limit=5)
        limits = self.policy.resource_limits
        return {
            "security_level": self.policy.level,
            "active_agents": len(self.running_agents()),
            "total_incidents": total,
            "recent_incidents": [
                {  # the spec's fields, and the web client's SecurityIncident fields beside them
                    "id": incident.id,
                    "incident_id": incident.id,
                    "agent_id": incident.agent_id,
                    "type": incident.violation_type,
                    "violation_type": incident.violation_type,
                    "severity": incident.severity,
                    "description": incident.description,
                    "resolved": incident.resolved,
                    "timestamp": incident.timestamp,
                }
                for incident in recent.incidents
            ],
            "resource_limits": {
                "max_concurrent_agents": limits.max_concurrent_agents,
                "max_memory_mb": limits.max_memory_mb,
                "max_execution_time": limits.max_execution_time,
            },
            "current_usage": self.usage(),
            "secrets_backend": self.vault(),
        }

    async def health(self) -> dict[str, Any]:
        """``critical`` with unresolved critical incidents, ``warning`` with unresolved high ones."""
        total, high, critical = await self._counts()
        if critical:
            status, message = "critical", f"{critical} unresolved critical security incident(s)"
        elif high:
            status, message = "warning", f"{high} unresolved high security incident(s)"
        else:
            status, message = "healthy", "No unresolved high or critical incidents"
        return {
            "status": status,
            "message": message,
            "metrics": {
                "total_incidents": total,
                "active_agents": len(self.running_agents()),
                "unresolved_high_severity": high + critical,
            },
            "timestamp": utcnow(),
        }

    def limits(self) -> dict[str, Any]:
        """The policy, plus current use of the two limits the web client draws as bars."""
        policy = self.policy
        usage = self.usage()
        return {
            **policy.model_dump(),
            "concurrent_agents": {
                "current": usage["active_agents"],
                "max": policy.resource_limits.max_concurrent_agents,
            },
            "memory_usage": {
                "current_mb": usage["total_memory_mb"],
                "max_mb": policy.resource_limits.max_memory_mb,
            },
        }

    async def agent_report(self, agent_id: str) -> dict[str, Any]:
        """Resource use over the agent's tasks, its incidents, and whether it is in good standing."""
        async with self._sessions() as session:
            agent = await session.get(AgentRow, agent_id)
            if agent is None:
                raise NotFound(f"No agent with id {agent_id}")
            rows = (
                await session.execute(
                    select(TaskRow.resource_usage, TaskRow.started_at, TaskRow.completed_at).where(
                        TaskRow.agent_id == agent_id
                    )
                )
            ).all()
        page = await self.incidents(agent_id=agent_id, limit=100)
        peak = max((usage.get("memory_peak_mb", 0) for usage, _, _ in rows if usage), default=0)
        cpu = sum(usage.get("cpu_time_seconds", 0) for usage, _, _ in rows if usage)
        elapsed = sum(
            (end - start).total_seconds() for _, start, end in rows if start is not None and end is not None
        )
        starts = [start for _, start, _ in rows if start is not None]
        open_serious = [i for i in page.incidents if not i.resolved and i.severity in ("high", "critical")]
        return {
            "agent_id": agent_id,
            "agent_type": agent.agent_type,
            "start_time": min(starts) if starts else None,
            "resource_usage": {
                "memory_peak_mb": round(peak, 1),
                "cpu_time_seconds": round(cpu, 3),
                "execution_time": round(elapsed, 3),
                "tasks": len(rows),
            },
            "security_events": [
                {"type": i.violation_type, "description": i.description, "timestamp": i.timestamp}
                for i in page.incidents
            ],
            "incidents": [
                {
                    "id": i.id,
                    "type": i.violation_type,
                    "severity": i.severity,
                    "description": i.description,
                    "timestamp": i.timestamp,
                    "resolved": i.resolved,
                }
                for i in page.incidents
            ],
            "is_active": agent.is_active,
            "is_secure": agent.is_active and not open_serious,
        }


class ResourceWatch:
    """Peak memory and CPU time of the process while one task runs; trips past ``limit_mb``."""

    def __init__(self, limit_mb: float, memory_mb: Callable[[], float]) -> None:
        self.limit_mb = limit_mb
        self._memory_mb = memory_mb
        self._cpu_start = process_cpu_seconds()
        self._started = time.monotonic()
        self.peak_mb = memory_mb()
        self.cpu_seconds = 0.0
        self.elapsed = 0.0
        self.tripped = asyncio.Event()
        self._finished = False
        self._task = asyncio.create_task(self._run(), name="task-resource-watch")

    async def _run(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, self._memory_mb())
            if self.peak_mb > self.limit_mb:
                self.tripped.set()
                return
            await asyncio.sleep(WATCH_INTERVAL)

    def finish(self) -> None:
        """Stop watching and fix the figures (a second call changes nothing)."""
        if self._finished:
            return
        self._finished = True
        self._task.cancel()
        self.cpu_seconds = process_cpu_seconds() - self._cpu_start
        self.elapsed = time.monotonic() - self._started

    def usage(self) -> dict[str, float]:
        return {
            "memory_peak_mb": round(self.peak_mb, 1),
            "memory_limit_mb": round(self.limit_mb, 1),
            "cpu_time_seconds": round(self.cpu_seconds, 3),
            "execution_time": round(self.elapsed, 3),
        }


def _period(seconds: float) -> str:
    return {60.0: "minute", HOUR: "hour"}.get(seconds, f"{seconds:g} s")


def _urls(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith(("http://", "https://")) else []
    if isinstance(value, dict):
        return [url for item in value.values() for url in _urls(item)]
    if isinstance(value, list):
        return [url for item in value for url in _urls(item)]
    return []


def since_hours(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)
