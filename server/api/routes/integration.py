"""The load balancer over the Ollama hosts: register, list and remove hosts; routing and its stats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.api.auth import require_superuser
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.integration import (
    BackendOut,
    BackendRegisterIn,
    BackendRemovedOut,
    BackendsOut,
    LoadBalanceIn,
    RouteIn,
    RouteOut,
)

if TYPE_CHECKING:
    from aiohttp import web

    from server.services.host_directory import HostView
    from server.services.llm import HostSpec, Router

routes = RouteRegistry(tags=("integration",))


def backend_out(spec: HostSpec, view: HostView) -> BackendOut:
    return BackendOut(
        id=spec.id,
        url=spec.url,
        builtin=spec.builtin,
        supported_request_types=list(spec.supported_request_types),
        max_concurrent_requests=spec.max_concurrent_requests,
        weight=spec.weight,
        agentic_url=spec.agentic_url,
        has_agentic_token=spec.has_agentic_token,
        status=view.state,
        reason=view.reason,
        models=list(view.models),
        loaded_models=list(view.loaded),
        vram_used=view.vram_used,
        in_flight=view.in_flight,
        breaker=view.breaker,
        version=view.version,
        average_response_time_ms=view.latency_ms,
        created_at=spec.created_at,
    )


def _router(request: web.Request) -> Router:
    return request.app[BACKEND].router


@routes.get("/api/v1/integration/backends", summary="Ollama hosts", auth=True, response=BackendsOut)
async def list_backends(request: web.Request) -> BackendsOut:
    """Every host the router may send model calls to, the settings' host first, with its state
    (healthy, degraded, down) and the reason, its models, loaded models and VRAM in use."""
    router = _router(request)
    items = [backend_out(spec, view) for spec, view in zip(router.specs(), router.views(), strict=True)]
    return BackendsOut(backends=items, total=len(items))


@routes.post(
    "/api/v1/integration/backends/register",
    summary="Register an Ollama host",
    auth=True,
    body=BackendRegisterIn,
    response=BackendOut,
    status=201,
    errors=(403, 409, 422),
)
async def register_backend(request: web.Request, body: BackendRegisterIn) -> BackendOut:
    """Adds the host, keeps it for the next start and probes it once: the answer says what the
    probe found (a host that is down is still registered, and retried on every probe). Superusers
    only. A duplicate id or URL is a 409; a malformed URL a 422."""
    require_superuser(request)
    router = _router(request)
    view = await router.add_host(
        body.id,
        body.url,
        supported_request_types=body.supported_request_types,
        max_concurrent_requests=body.max_concurrent_requests,
        weight=body.weight,
        agentic_url=body.agentic_url,
        agentic_token=body.agentic_token,
    )
    spec = next(spec for spec in router.specs() if spec.id == view.id)
    return backend_out(spec, view)


@routes.post(
    "/api/v1/integration/backends/{backend_id}/test",
    summary="Probe an Ollama host now",
    auth=True,
    response=BackendOut,
    errors=(404,),
)
async def test_backend(request: web.Request) -> BackendOut:
    """Asks the host for its version, models and loaded models now and answers with its state."""
    router = _router(request)
    view = await router.test_host(request.match_info["backend_id"])
    spec = next(spec for spec in router.specs() if spec.id == view.id)
    return backend_out(spec, view)


@routes.delete(
    "/api/v1/integration/backends/{backend_id}",
    summary="Remove an Ollama host",
    auth=True,
    response=BackendRemovedOut,
    errors=(403, 404, 409),
)
async def remove_backend(request: web.Request) -> BackendRemovedOut:
    """Calls running on it finish; no new call goes there. The settings' host cannot be removed
    (409): change OLLAMA_HOST instead. Superusers only."""
    require_superuser(request)
    spec = await _router(request).remove_host(request.match_info["backend_id"])
    return BackendRemovedOut(message=f"Host '{spec.id}' ({spec.url}) removed", backend_id=spec.id)


def _route_out(router: Router, request_type: str, model: str | None) -> RouteOut:
    found = router.explain(model, request_type)
    return RouteOut(
        request_type=request_type,
        model=model,
        backend_id=found["host_id"],
        url=found["url"],
        reason=found["reason"],
        candidates=found["candidates"],
        would_queue=found["would_queue"],
        queue_length=found["queue_length"],
    )


@routes.post(
    "/api/v1/integration/load-balance/route",
    summary="Which host would serve a call",
    auth=True,
    body=RouteIn,
    response=RouteOut,
)
async def route_request(request: web.Request, body: RouteIn) -> RouteOut:
    """The host the router would choose now for a call of ``request_type`` on ``model`` (or
    ``data.model``), and why. Nothing is sent: model calls go through the app's own endpoints."""
    model = body.model or _model_in(body.data)
    return _route_out(_router(request), body.request_type, model)


@routes.post(
    "/api/v1/integration/load-balance/{request_type}",
    summary="Which host would serve a call of this type",
    auth=True,
    body=LoadBalanceIn,
    response=RouteOut,
)
async def load_balance(request: web.Request, body: LoadBalanceIn) -> RouteOut:
    """As ``/load-balance/route``, with the request type in the path."""
    model = body.model or _model_in(body.data)
    return _route_out(_router(request), request.match_info["request_type"], model)


def _model_in(data: dict[str, Any]) -> str | None:
    model = data.get("model")
    return str(model) if model else None


@routes.get(
    "/api/v1/integration/load-balancer/stats",
    summary="Load balancer statistics",
    auth=True,
    response=dict[str, Any],
)
async def load_balancer_stats(request: web.Request) -> dict[str, Any]:
    """Calls routed, succeeded, failed and moved to another host; the wait queue; the cost of a
    routing decision (p50/p99 in microseconds); and per host its share, latency, breaker and load."""
    return _router(request).stats()


@routes.get(
    "/api/v1/integration/load-balancer/health",
    summary="Load balancer health",
    auth=True,
    response=dict[str, Any],
)
async def load_balancer_health(request: web.Request) -> dict[str, Any]:
    """``healthy`` when every host is, ``degraded`` while some host can serve, else ``unhealthy``;
    each host's state and reason."""
    return _router(request).health()
