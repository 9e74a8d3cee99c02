"""Content connectors: preview one source of a kind, or discover over several at once.

Nothing is stored here (the ingestion pipeline stores). A kind that needs an account this app does
not have (social platforms, Slack) answers 501 with what is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.content_connectors import ConnectorRunIn, ConnectorRunOut, DiscoverIn, DiscoverOut
from server.services.connectors.base import ConnectorUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

routes = RouteRegistry(tags=("content",))

ERRORS = (400, 422, 501, 503)


async def _unless_unavailable(call: Callable[[], Awaitable[Any]]) -> Any:
    """``ConnectorUnavailable`` as a 501 naming what is missing (no service error maps to 501)."""
    try:
        return await call()
    except ConnectorUnavailable as exc:
        raise web.HTTPNotImplemented(text=str(exc)) from None


async def _preview(request: web.Request, kind: str, body: ConnectorRunIn) -> ConnectorRunOut:
    connectors = request.app[BACKEND].connectors
    result = await _unless_unavailable(lambda: connectors.preview(kind, body.config))
    return ConnectorRunOut.of(kind, result)


@routes.post(
    "/api/v1/content/connectors/web",
    summary="Preview a web source (RSS/Atom feed or page)",
    auth=True,
    body=ConnectorRunIn,
    response=ConnectorRunOut,
    errors=ERRORS,
)
async def connector_web(request: web.Request, body: ConnectorRunIn) -> ConnectorRunOut:
    """Fetch a feed or page once (robots.txt obeyed, rate-limited) and list what it holds.

    Config: ``url`` (or ``feed_url``), ``mode`` (auto/feed/page), ``max_items``, ``follow_links``,
    ``timeout``, ``max_bytes``. A host that fails or times out is a failure entry with the reason."""
    return await _preview(request, "web", body)


@routes.post(
    "/api/v1/content/connectors/filesystem",
    summary="Preview a local folder",
    auth=True,
    body=ConnectorRunIn,
    response=ConnectorRunOut,
    errors=ERRORS,
)
async def connector_filesystem(request: web.Request, body: ConnectorRunIn) -> ConnectorRunOut:
    """List the matching files of a folder on the backend's machine.

    Config: ``directory`` (absolute), ``file_patterns`` (globs), ``recursive``, ``max_file_size``,
    ``max_files``, ``include_hidden``. An unreadable file is a failure entry."""
    return await _preview(request, "filesystem", body)


@routes.post(
    "/api/v1/content/connectors/communication",
    summary="Preview a mailbox (IMAP); Slack, Discord and Teams answer 501",
    auth=True,
    body=ConnectorRunIn,
    response=ConnectorRunOut,
    errors=ERRORS,
)
async def connector_communication(request: web.Request, body: ConnectorRunIn) -> ConnectorRunOut:
    """Read a mailbox read-only (nothing is marked as seen).

    Config: ``host`` (or ``imap_server``), ``port``, ``security`` (ssl/starttls/plain), ``username``,
    ``password_secret`` (name of a vault secret, never the password), ``mailbox``, ``search``,
    ``max_messages``, ``timeout``. ``platform`` slack/discord/teams answers 501 naming what is missing."""
    return await _preview(request, "communication", body)


@routes.post(
    "/api/v1/content/connectors/social",
    summary="Social platforms (Twitter/X, Reddit, ...): 501 naming what is missing",
    auth=True,
    body=ConnectorRunIn,
    response=ConnectorRunOut,
    errors=ERRORS,
)
async def connector_social(request: web.Request, body: ConnectorRunIn) -> ConnectorRunOut:
    """Each platform needs a developer account and token this app does not have: the config is
    validated (422 when wrong), then the answer is 501 with what the platform would need."""
    return await _preview(request, "social", body)


@routes.post(
    "/api/v1/content/discover",
    summary="Discover content from several sources at once",
    auth=True,
    body=DiscoverIn,
    response=DiscoverOut,
    errors=(422,),
)
async def content_discover(request: web.Request, body: DiscoverIn) -> DiscoverOut:
    """Run every source concurrently, once, storing nothing; each has its own result, and one that
    fails (or is unavailable) never sinks the others. An unknown ``type`` or a bad config refuses
    the whole request (422, naming the source) before anything runs."""
    sources = [(source.type, source.config) for source in body.sources]
    return DiscoverOut.of(await request.app[BACKEND].connectors.discover(sources))
