"""A plain HTTP site on loopback with failure switches, for the outbound HTTP client's tests.

Routes:

- ``/flaky`` (any method): answers ``fail_status`` for the next ``fail_times`` requests (with a
  ``Retry-After: retry_after`` header when that is set), then 200 with a JSON body;
- ``/echo`` (any method): 200 with the method, path, query, headers and body it received;
- ``/limited``: 200 with ``X-RateLimit-Limit/Remaining/Reset`` (``remaining`` counts down to 0;
  ``Reset`` is ``reset_after`` seconds);
- ``/slow``: waits ``delay`` seconds before answering;
- ``/big``: ``big_size`` bytes of deterministic content with a Content-Length (``cut_after``: drop
  the connection after that many bytes); ``big_bytes()`` gives the same bytes;
- ``/redirect?to=URL``: 302 to ``URL``.

Every request is recorded in ``requests`` with its arrival time (``time.monotonic``), so tests can
measure waits between attempts without sleeping themselves.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class FlakyHttp:
    host: str = "127.0.0.1"
    fail_times: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    remaining: int = 2
    reset_after: int = 1
    delay: float = 0.0
    big_size: int = 1024 * 1024
    cut_after: int | None = None
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def big_bytes(self) -> bytes:
        pattern = bytes(range(256))
        return (pattern * (self.big_size // 256 + 1))[: self.big_size]

    def hits(self, path: str) -> list[Recorded]:
        return [item for item in self.requests if item.path == path]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/flaky", self._flaky)
        app.router.add_route("*", "/echo", self._echo)
        app.router.add_get("/limited", self._limited)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/big", self._big)
        app.router.add_get("/redirect", self._redirect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _record(self, request: web.Request) -> None:
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), time.monotonic()))

    async def _flaky(self, request: web.Request) -> web.Response:
        self._record(request)
        if self.fail_times > 0:
            self.fail_times -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else None
            return web.json_response({"error": "try again"}, status=self.fail_status, headers=headers)
        return web.json_response({"ok": True, "attempt": len(self.hits("/flaky"))})

    async def _echo(self, request: web.Request) -> web.Response:
        self._record(request)
        body = await request.text()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
            }
        )

    async def _limited(self, request: web.Request) -> web.Response:
        self._record(request)
        self.remaining = max(0, self.remaining - 1)
        headers = {
            "X-RateLimit-Limit": "2",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        return web.json_response({"ok": True}, headers=headers)

    async def _slow(self, request: web.Request) -> web.Response:
        self._record(request)
        await asyncio.sleep(self.delay)
        return web.json_response({"ok": True})

    async def _big(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        data = self.big_bytes()
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(data)
        await response.prepare(request)
        step = 64 * 1024
        for start in range(0, len(data), step):
            if self.cut_after is not None and start >= self.cut_after:
                assert request.transport is not None
                request.transport.close()  # the peer sees the body end early
                return response
            await response.write(data[start : start + step])
        await response.write_eof()
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        self._record(request)
        raise web.HTTPFound(request.query["to"])
