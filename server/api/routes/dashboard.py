"""The dashboard summary the web client asks for: counts, recent tasks and logs, and the state of
the system, Ollama and security in one answer, every figure read from the services."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.routes.ollama import reachability
from server.bus import utcnow
from server.services.errors import NotFound
from server.services.logs import LogEntry
from server.services.metrics_models import GpuMetrics

if TYPE_CHECKING:
    from aiohttp import web

    from server.backend import Backend

routes = RouteRegistry(tags=("dashboard",))

RECENT = 5
PAGE = 1000


class TaskCounts(BaseModel):
    """How many tasks are in each state (all time)."""

    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    total: int


class RecentTask(BaseModel):
    """One of the newest tasks, with its agent's name."""

    id: str
    agent_id: str
    agent_name: str | None = Field(description="null when the agent no longer exists")
    status: str
    created_at: datetime
    completed_at: datetime | None


class CpuSummary(BaseModel):
    usage_percent: float


class MemorySummary(BaseModel):
    used_gb: float
    total_gb: float
    usage_percent: float


class SystemSummary(BaseModel):
    """The newest system sample, cut to what a dashboard card shows."""

    timestamp: datetime
    cpu: CpuSummary
    memory: MemorySummary
    gpu: list[GpuMetrics] = Field(description="[] without an NVIDIA GPU")
    active_alerts: list[str] = Field(description="Resource alerts raised and not yet cleared")


class OllamaSummary(BaseModel):
    status: Literal["healthy", "unhealthy"]
    models_available: int
    default_model: str | None
    detail: str


class ResourceLimits(BaseModel):
    max_concurrent_agents: int
    max_memory_mb: int


class SecuritySummary(BaseModel):
    status: str = Field(description="healthy, warning or critical (as /api/v1/security/health)")
    active_agents: int = Field(description="Agents with a task running now")
    total_incidents: int
    unresolved_high_severity: int
    resource_limits: ResourceLimits


class DashboardSummary(BaseModel):
    """Everything the dashboard's cards show."""

    total_agents: int
    active_agents: int = Field(description="Agents switched on (is_active)")
    tasks: TaskCounts
    active_tasks: int = Field(description="Pending and running tasks")
    recent_tasks: list[RecentTask] = Field(description=f"The {RECENT} newest tasks, newest first")
    recent_logs: list[LogEntry] = Field(description=f"The {RECENT} newest log entries, newest first")
    system_metrics: SystemSummary
    ollama_health: OllamaSummary
    security_status: SecuritySummary
    system_health: Literal["healthy", "warning", "error"] = Field(
        description="error: Ollama unreachable or unresolved critical incidents; warning: a resource "
        "alert or unresolved high incidents; else healthy"
    )
    timestamp: datetime


async def _active_agents(backend: Backend) -> int:
    count, offset = 0, 0
    while True:
        page = await backend.agents.list(active_only=True, limit=PAGE, offset=offset)
        count += len(page)
        if len(page) < PAGE:
            return count
        offset += PAGE


async def _recent_tasks(backend: Backend) -> list[RecentTask]:
    tasks = await backend.tasks.list(limit=RECENT)
    names: dict[str, str | None] = {}
    for agent_id in {task.agent_id for task in tasks}:
        try:
            names[agent_id] = (await backend.agents.get(agent_id)).name
        except NotFound:
            names[agent_id] = None
    return [
        RecentTask(
            id=task.id,
            agent_id=task.agent_id,
            agent_name=names[task.agent_id],
            status=task.status,
            created_at=task.created_at,
            completed_at=task.completed_at,
        )
        for task in tasks
    ]


async def _ollama(backend: Backend) -> OllamaSummary:
    # The status is kept current by the backend's probe loop.
    status, default = await reachability(backend, backend.llm.status)
    return OllamaSummary(
        status="healthy" if status.reachable else "unhealthy",
        models_available=status.models_available if status.reachable else 0,
        default_model=default,
        detail=status.detail,
    )


@routes.get("/api/v1/dashboard/summary", summary="Dashboard summary", auth=True, response=DashboardSummary)
async def dashboard_summary(request: web.Request) -> DashboardSummary:
    """Agent and task counts, the newest tasks and log entries, CPU, memory and GPUs from the newest
    system sample, Ollama's state and the security figures, in one answer."""
    backend = request.app[BACKEND]
    (
        total_agents,
        active_agents,
        counts,
        recent_tasks,
        recent_logs,
        sample,
        ollama,
        security,
    ) = await asyncio.gather(
        backend.agents.count(),
        _active_agents(backend),
        backend.tasks.counts(),
        _recent_tasks(backend),
        backend.logs.history(limit=RECENT),
        backend.metrics.latest(),
        _ollama(backend),
        backend.security.health(),
    )
    alerts = sorted(backend.metrics.active_alerts())
    limits = backend.security.policy.resource_limits
    if ollama.status != "healthy" or security["status"] == "critical":
        health: Literal["healthy", "warning", "error"] = "error"
    elif alerts or security["status"] == "warning":
        health = "warning"
    else:
        health = "healthy"
    return DashboardSummary(
        total_agents=total_agents,
        active_agents=active_agents,
        tasks=TaskCounts(**counts, total=sum(counts.values())),
        active_tasks=counts["pending"] + counts["running"],
        recent_tasks=recent_tasks,
        recent_logs=recent_logs,
        system_metrics=SystemSummary(
            timestamp=sample.timestamp,
            cpu=CpuSummary(usage_percent=sample.cpu.usage_percent),
            memory=MemorySummary(
                used_gb=sample.memory.used_gb,
                total_gb=sample.memory.total_gb,
                usage_percent=sample.memory.usage_percent,
            ),
            gpu=sample.gpu,
            active_alerts=alerts,
        ),
        ollama_health=ollama,
        security_status=SecuritySummary(
            status=security["status"],
            active_agents=security["metrics"]["active_agents"],
            total_incidents=security["metrics"]["total_incidents"],
            unresolved_high_severity=security["metrics"]["unresolved_high_severity"],
            resource_limits=ResourceLimits(
                max_concurrent_agents=limits.max_concurrent_agents, max_memory_mb=limits.max_memory_mb
            ),
        ),
        system_health=health,
        timestamp=utcnow(),
    )
