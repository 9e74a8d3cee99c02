"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from server.api.keys import BACKEND, METRICS
from server.api.registry import RouteRegistry
from server.api.schemas.health import CheckOut, HealthOut, ReadinessOut

routes = RouteRegistry(tags=("health",))


@routes.get("/api/v1/health", summary="System health check", response=HealthOut)
async def get_health(request: web.Request) -> HealthOut:
    """Answers 200 while the process serves, with or without credentials."""
    return request.app[BACKEND].health.health()


@routes.get("/api/v1/ready", summary="Readiness check", response=ReadinessOut, errors=(503,))
async def get_ready(request: web.Request) -> web.Response:
    """200 when the database and Ollama answer; 503 naming what is not ready otherwise."""
    report = await request.app[BACKEND].health.readiness()
    status = 200 if report.ready else 503
    body = ReadinessOut(
        status="ready" if report.ready else "not_ready",
        checks={check.name: CheckOut(ok=check.ok, detail=check.detail) for check in report.checks},
        detail=None if report.ready else f"Not ready: {report.problems}",
        status_code=status,
    )
    return web.Response(body=body.model_dump_json(), status=status, content_type="application/json")


@routes.get(
    "/api/v1/metrics",
    summary="Prometheus metrics",
    auth=True,
    media_type="text/plain",
)
async def get_metrics(request: web.Request) -> web.Response:
    """Prometheus text format: ``api_requests_total{method,endpoint,status_code}`` and more."""
    body, content_type = request.app[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
