"""The outbound HTTP client: requests, their records, metrics, health and stream downloads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.auth import principal
from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.http import (
    DownloadIn,
    DownloadResult,
    HttpHealth,
    HttpMetrics,
    HttpRecord,
    HttpRequestIn,
    HttpResult,
)

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("http",))


@routes.post(
    "/api/v1/http/request",
    summary="Make an outside HTTP request",
    auth=True,
    body=HttpRequestIn,
    response=HttpResult,
    errors=(400, 403, 404, 429, 503),
)
async def make_http_request(request: web.Request, body: HttpRequestIn) -> HttpResult:
    """Through the guarded client: destination policy, per-host rate limit and circuit breaker,
    retries with backoff for idempotent methods, secrets by reference. The remote's answer is in the
    body whatever its status; 403 for a denied destination, 503 when the host cannot be reached."""
    return await request.app[BACKEND].http.request(body.to_spec(), requested_by=principal(request).username)


@routes.get(
    "/api/v1/http/requests/{request_id}",
    summary="A stored outside request",
    auth=True,
    response=HttpRecord,
    errors=(404,),
)
async def get_http_request(request: web.Request) -> HttpRecord:
    """Method, URL, status, attempts, duration and error; never headers, bodies or secrets."""
    return await request.app[BACKEND].http.get(request.match_info["request_id"])


@routes.get("/api/v1/http/metrics", summary="Outbound HTTP metrics", auth=True, response=HttpMetrics)
async def get_http_metrics(request: web.Request) -> HttpMetrics:
    """Counters since start, latency percentiles, retries, rate limiting and each host's breaker."""
    return await request.app[BACKEND].http.metrics()


@routes.get("/api/v1/http/health", summary="Outbound HTTP client health", response=HttpHealth)
async def get_http_health(request: web.Request) -> HttpHealth:
    """``degraded`` while any host's circuit breaker is open, else ``healthy``."""
    return request.app[BACKEND].http.health()


@routes.post(
    "/api/v1/http/stream-download",
    summary="Download a file into the downloads folder",
    auth=True,
    body=DownloadIn,
    response=DownloadResult,
    errors=(400, 403, 503),
)
async def stream_download(request: web.Request, body: DownloadIn) -> DownloadResult:
    """Streams to ``<data dir>/downloads/<destination_path>`` with ``DownloadProgressed`` events on the
    bus; answers with the size and SHA-256 once the file is complete. A path leaving the folder is a
    400 and nothing is written; a failed download leaves no partial file."""
    return await request.app[BACKEND].http.download(
        body.url,
        body.destination_path,
        headers=body.headers,
        agent_id=body.agent_id,
        read_timeout=body.timeout,
        requested_by=principal(request).username,
    )
