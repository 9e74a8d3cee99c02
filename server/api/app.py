"""The app factory: one aiohttp application over a started Backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server import __version__
from server.api import docs, web_root, websockets
from server.api.errors import MAX_BODY_BYTES
from server.api.keys import BACKEND, METRICS, OPENAPI
from server.api.metrics import ApiMetrics
from server.api.middleware import core_middleware
from server.api.openapi import build_openapi
from server.api.routes import REGISTRIES
from server.api.security_middleware import security_middleware

if TYPE_CHECKING:
    from server.backend import Backend

DESCRIPTION = (
    "REST and WebSocket API of Agentic Desktop: agents, tasks, chat, secrets, system metrics "
    "and security for a home AI lab running Ollama. Send the API key or a login token as "
    "`Authorization: Bearer <token>`."
)


def create_app(backend: Backend) -> web.Application:
    """Build the application; ``backend`` must be started before the app serves requests."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[core_middleware(backend.settings.cors_origins), security_middleware],
    )
    app[BACKEND] = backend
    app[METRICS] = ApiMetrics(backend)
    for registry in REGISTRIES:
        registry.install(app)
    app[OPENAPI] = build_openapi(
        (spec for registry in REGISTRIES for spec in registry.specs),
        title=f"{backend.settings.app_name} API",
        version=__version__,
        description=DESCRIPTION,
    )
    docs.install(app)
    websockets.install(app, backend)
    if backend.settings.web_root is not None:
        # Last: its catch-all must not shadow any route above.
        web_root.install(app, backend.settings.web_root)
    return app
