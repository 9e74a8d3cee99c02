"""Rate limits and input validation for API requests (``/api/...`` and the OpenAI-compatible
``/v1/...``), inside the core middleware (whose error
handling turns what this raises into JSON answers with CORS headers).

Health, readiness, metrics, the docs and WebSockets are not counted: monitors poll them, and the
WebSockets have their own limits.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from server.api.auth import bearer_token
from server.api.keys import BACKEND
from server.services.errors import InvalidInput
from server.services.threats import scan, scan_query

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

    from server.services.security import SecurityService

FREE_PATHS = frozenset(
    {"/api/v1/health", "/api/v1/ready", "/api/v1/metrics", "/api/v1/security/health", "/api/v1/ollama/health"}
)
# The REST API and the OpenAI-compatible API share the callers' budgets and the input checks.
COUNTED_PREFIXES = ("/api/", "/v1/")
AGENT_CREATION = frozenset({"/api/v1/agents/create"})
MINUTE, HOUR = 60.0, 3600.0
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class MaliciousContent(InvalidInput):
    """A request carried an attack pattern (400)."""


def caller_of(request: web.Request) -> str:
    """Who to count a request against: a digest of its bearer token, else its address."""
    token = bearer_token(request)
    if token is not None:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"ip:{request.remote or 'unknown'}"


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if not path.startswith(COUNTED_PREFIXES) or path in FREE_PATHS or request.method == "OPTIONS":
        return await handler(request)
    security: SecurityService = request.app[BACKEND].security
    limits = security.policy.rate_limits
    caller = caller_of(request)
    await security.take(caller, "api", limits.api_requests_per_minute, MINUTE, what="API requests")
    if request.method == "POST" and path in AGENT_CREATION:
        await security.take(
            caller, "agent_creation", limits.agent_creation_per_hour, HOUR, what="Creating agents"
        )
    await _validate(request, security)
    return await handler(request)


async def _validate(request: web.Request, security: SecurityService) -> None:
    """Refuse (or, at the lenient level, only record) a request that carries an attack pattern."""
    finding = scan_query(request.query)
    body = None
    if finding is None and request.method in BODY_METHODS and request.content_type == "application/json":
        raw = await request.read()  # kept by aiohttp for the handler
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return  # the handler answers malformed JSON with its own 422
        finding = scan(body)
    if finding is None:
        return
    agent_id = _agent_of(request, body)
    blocked = security.policy.block_malicious_input
    description = f"{finding.describe()} of {request.method} {request.path}" + (
        "" if blocked else " (allowed: lenient)"
    )
    await security.record(
        "MALICIOUS_CONTENT",
        description,
        agent_id=agent_id,
        severity="critical" if blocked else "low",
        details={"field": finding.field, "kind": finding.kind, "path": request.path},
    )
    if not blocked:
        return
    if agent_id is not None:
        await security.disable_agent(agent_id, f"malicious content in its input ({finding.describe()})")
    raise MaliciousContent(f"Malicious content detected: {finding.describe()}")


def _agent_of(request: web.Request, body: object) -> str | None:
    """The agent a request gives input to (running a task), if any."""
    if request.path == "/api/v1/tasks/run" and isinstance(body, dict):
        agent_id = body.get("agent_id")
        return agent_id if isinstance(agent_id, str) else None
    return None
