"""``/openapi.json``, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, all served from local files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server.api.keys import OPENAPI
from server.resources import resource_dir

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="icon" href="/docs/static/favicon.svg">
<link rel="stylesheet" href="/docs/static/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - ReDoc</title>
<link rel="icon" href="/docs/static/favicon.svg">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/docs/static/redoc/redoc.standalone.js"></script>
</body>
</html>
"""


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document."""
    return web.json_response(request.app[OPENAPI])


def _page(template: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler serving ``template`` with the API's title filled in."""

    async def page(request: web.Request) -> web.Response:
        info = request.app[OPENAPI]["info"]
        assert isinstance(info, dict)
        return web.Response(text=template.format(title=info["title"]), content_type="text/html")

    return page


def install(app: web.Application) -> None:
    """Add the documentation routes (anonymous, offline)."""
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", _page(SWAGGER_PAGE))
    app.router.add_get("/redoc", _page(REDOC_PAGE))
    app.router.add_static("/docs/static", resource_dir("docs"))
