"""The access log: one line per request in ``logs/access.log``, buffered and written off the loop.

Going through the ``logging`` module costs more than a whole request to /health (a record, a
formatter, a lock and a write per line), so requests are formatted into a buffer that a thread
writes out about once a second. At log level DEBUG the lines also go to the ``agentic.access``
logger (and so to stderr).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractAccessLogger

from server.api.keys import REQUEST_ID

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp.web import BaseRequest, StreamResponse

log = logging.getLogger("agentic.access")

FLUSH_INTERVAL = 1.0
MAX_BYTES = 10_000_000


class _Clock:
    """``2026-11-25T22:57:59.727Z`` for now, redoing the date arithmetic once a second only."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        stamp = time.time()
        second = int(stamp)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{int((stamp - second) * 1000):03d}Z"


class AccessLogFile:
    """Buffers access-log lines and appends them to a file from a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.echo = log.isEnabledFor(logging.DEBUG)

    def add(self, line: str) -> None:
        """Queue one line (called on the loop for every request)."""
        self._lines.append(line)
        if self.echo:
            log.debug("%s", line)

    def start(self) -> None:
        """Flush in the background until ``close``."""
        self._task = asyncio.create_task(self._run(), name="access-log")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered."""
        if self._lines:
            lines, self._lines = self._lines, []
            await asyncio.to_thread(self._append, lines)

    def _append(self, lines: list[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size > MAX_BYTES:
                self.path.replace(self.path.with_name(self.path.name + ".1"))
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
        except OSError as exc:
            logging.getLogger(__name__).warning("Cannot write the access log %s: %s", self.path, exc)

    async def close(self) -> None:
        """Stop the background flush and write the rest."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()


def access_logger_for(sink: AccessLogFile) -> type[AbstractAccessLogger]:
    """An aiohttp access-logger class writing to ``sink`` (aiohttp makes one per connection)."""

    clock = _Clock()

    class BufferedAccessLogger(AbstractAccessLogger):
        """Formats a request line with its request id into the shared buffer."""

        def log(self, request: BaseRequest, response: StreamResponse, elapsed: float) -> None:
            sink.add(
                f"{clock.now()} {request.remote} "
                f'"{request.method} {request.path_qs} HTTP/{request.version.major}.{request.version.minor}" '
                f"{response.status} {response.body_length or response.content_length or 0} {elapsed:.4f}s "
                f"rid={request.get(REQUEST_ID, '-')}"
            )

    return BufferedAccessLogger
