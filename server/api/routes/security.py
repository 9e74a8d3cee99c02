"""Security: the policy and its limits, incidents, health, tool pre-checks and per-agent reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from server.api.auth import principal, require_superuser
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.security_middleware import caller_of
from server.services.security import Incident, IncidentPage, ToolCheck
from server.services.security_policy import Level

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("security",))


class IncidentQuery(BaseModel):
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    severity: Literal["low", "medium", "high", "critical"] | None = None
    resolved: bool | None = None
    agent_id: str | None = None
    violation_type: str | None = None
    since: datetime | None = Field(None, description="Only incidents at or after this time (ISO 8601)")


class ResolveIn(BaseModel):
    resolution_notes: str = Field(min_length=1, max_length=5000)


class StatusIn(BaseModel):
    security_level: Level = Field(
        description="strict, moderate or lenient; applies at once and at the next start"
    )


class ToolCheckIn(BaseModel):
    agent_id: str
    tool_name: str = Field(min_length=1, max_length=100)
    input_data: dict[str, Any] = Field(default_factory=dict)


@routes.get(
    "/api/v1/security/status", summary="Security status", auth=True, response=dict[str, Any], errors=(403,)
)
async def security_status(request: web.Request) -> dict[str, Any]:
    """Active agents, incidents, limits, current use, the level and where the secrets' master key is.
    Superusers only."""
    require_superuser(request)
    return await request.app[BACKEND].security.status()


@routes.post(
    "/api/v1/security/status",
    summary="Change the security level",
    auth=True,
    body=StatusIn,
    response=dict[str, Any],
    errors=(403,),
)
async def update_security_status(request: web.Request, body: StatusIn) -> dict[str, Any]:
    """Switch strict / moderate / lenient. Superusers only; the answer is the new status."""
    caller = require_superuser(request)
    security = request.app[BACKEND].security
    await security.set_level(body.security_level, caller.username)
    return await security.status()


@routes.get("/api/v1/security/limits", summary="Security limits", auth=True, response=dict[str, Any])
async def security_limits(request: web.Request) -> dict[str, Any]:
    """The policy in force: resource, schema and rate limits, allowed domains, blocked tool types,
    plus current use of concurrent agents and memory."""
    return request.app[BACKEND].security.limits()


@routes.get("/api/v1/security/health", summary="Security health", response=dict[str, Any])
async def security_health(request: web.Request) -> dict[str, Any]:
    """``critical`` with unresolved critical incidents, ``warning`` with unresolved high ones, else
    ``healthy``."""
    return await request.app[BACKEND].security.health()


@routes.get(
    "/api/v1/security/incidents",
    summary="Security incidents",
    auth=True,
    query=IncidentQuery,
    response=IncidentPage,
)
async def list_incidents(request: web.Request, query: IncidentQuery) -> IncidentPage:
    """Newest first, with the total that matched the filters."""
    return await request.app[BACKEND].security.incidents(**query.model_dump())


@routes.post(
    "/api/v1/security/incidents/{incident_id}/resolve",
    summary="Resolve an incident",
    auth=True,
    body=ResolveIn,
    response=Incident,
    errors=(404, 409),
)
async def resolve_incident(request: web.Request, body: ResolveIn) -> Incident:
    return await request.app[BACKEND].security.resolve(
        request.match_info["incident_id"], body.resolution_notes, principal(request).username
    )


@routes.post(
    "/api/v1/security/validate-tool-execution",
    summary="Pre-check a tool execution",
    auth=True,
    body=ToolCheckIn,
    response=ToolCheck,
    errors=(404,),
)
async def validate_tool_execution(request: web.Request, body: ToolCheckIn) -> ToolCheck:
    """Blocked tool types, allowed domains for URLs in ``input_data``, malicious content and the
    tool's hourly budget. A refusal is ``allowed: false`` with ``reasons``, and an incident."""
    return await request.app[BACKEND].security.check_tool(
        body.agent_id, body.tool_name, body.input_data, caller_of(request)
    )


@routes.get(
    "/api/v1/security/agents/{agent_id}/report",
    summary="An agent's security report",
    auth=True,
    response=dict[str, Any],
    errors=(404,),
)
async def agent_report(request: web.Request) -> dict[str, Any]:
    """Resource use over its tasks (peak memory, CPU and run time), its incidents, and whether it is
    in good standing (active, no unresolved high or critical incident)."""
    return await request.app[BACKEND].security.agent_report(request.match_info["agent_id"])
