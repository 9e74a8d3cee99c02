"""Serve the app on a TCP port inside the running loop (the window's or the headless one)."""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from server.api.access_log import AccessLogFile, access_logger_for
from server.api.app import create_app
from server.events import ApiStarted

if TYPE_CHECKING:
    from server.backend import Backend

log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    """The configured port is taken; the message says what to do."""


class ApiServer:
    """Owns the aiohttp runner and site for one Backend."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._runner: web.AppRunner | None = None
        self._access_log: AccessLogFile | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen on the configured host and port; returns the base URL actually bound."""
        settings = self._backend.settings
        self._access_log = AccessLogFile(settings.data_dir / "logs" / "access.log")
        self._runner = web.AppRunner(
            create_app(self._backend),
            access_log_class=access_logger_for(self._access_log),
            handle_signals=False,
            shutdown_timeout=5.0,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"Port {settings.port} on {settings.host} is already in use (another Agentic "
                    "Desktop or server?): stop it, or start with --port <other port>"
                ) from exc
            raise
        self._access_log.start()
        host, port = self._runner.addresses[0][:2]
        shown_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown_host}:{port}"
        log.info("API listening on %s (docs at %s/docs)", self.url, self.url)
        self._backend.bus.publish(ApiStarted(url=self.url))
        return self.url

    async def stop(self) -> None:
        """Stop listening and finish open requests."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._access_log is not None:
            await self._access_log.close()
            self._access_log = None
