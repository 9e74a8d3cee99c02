"""The one core middleware: request ids, CORS, the body limit, errors and metrics.

These concerns wrap every request, so they share one middleware layer: each extra layer costs a
call on every request of the embedded server, which runs on the window's own loop.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import TYPE_CHECKING

from aiohttp import web

from server.api.errors import body_too_large, error_response, problem
from server.api.keys import METRICS, REQUEST_ID

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiohttp.typedefs import Handler, Middleware

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-ID"
EXPOSED_HEADERS = "X-Request-ID, Retry-After, WWW-Authenticate"


class RequestIds:
    """Unique ids: a random per-process prefix and a counter (cheaper than a UUID per request)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def next(self, incoming: str | None) -> str:
        """The client's id when it is sane, else a fresh one."""
        if incoming and _SAFE_ID.match(incoming):
            return incoming
        return f"{self._prefix}-{next(self._counter):x}"


class CorsPolicy:
    """Which browser origins may call the API (none by default: same-origin only).

    Listed origins get credentials; ``*`` allows any origin without them.
    """

    def __init__(self, origins: Iterable[str]) -> None:
        self.allowed = {origin.rstrip("/") for origin in origins}
        self.any_origin = "*" in self.allowed

    def permits(self, origin: str) -> bool:
        return origin in self.allowed or self.any_origin

    def headers(self, origin: str) -> dict[str, str]:
        if origin in self.allowed:
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                "Vary": "Origin",
            }
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}

    def preflight(self, origin: str) -> web.Response:
        """The answer to an OPTIONS preflight from ``origin``."""
        if not self.permits(origin):
            return problem(
                403, f"Origin {origin} is not allowed: add it with --cors-origin or AGENTIC_CORS_ORIGINS"
            )
        return web.Response(
            status=204,
            headers={
                **self.headers(origin),
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )


def core_middleware(cors_origins: Iterable[str]) -> Middleware:
    """Build the middleware for an app allowing ``cors_origins``."""
    ids = RequestIds()
    cors = CorsPolicy(cors_origins)

    @web.middleware
    async def core(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request[REQUEST_ID] = ids.next(request.headers.get(REQUEST_ID_HEADER))
        origin = request.headers.get("Origin")
        response: web.StreamResponse | None = None
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        if origin is not None and preflight:
            response = cors.preflight(origin)
        if response is None:
            response = body_too_large(request)
        if response is None:
            try:
                response = await handler(request)
            except Exception as exc:  # every failure becomes a JSON answer
                if isinstance(exc, web.HTTPException) and exc.status < 400:
                    raise
                response = error_response(request, exc)
        response.headers[REQUEST_ID_HEADER] = request_id
        if origin is not None and cors.permits(origin):
            response.headers.update(cors.headers(origin))
        request.app[METRICS].observe(request, response.status, time.perf_counter() - started)
        return response

    return core
