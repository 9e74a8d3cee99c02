"""A built single-page web client (``index.html`` + ``assets/``) served at ``/``.

Installed last, so every API route, WebSocket and the docs come first. Files are looked up in a
worker thread and sent with ``web.FileResponse`` (sendfile, ETag / Last-Modified, Range), so the
loop never waits on the disk. Paths the client's router owns (anything that is not a file) answer
``index.html``; the API's own prefixes never do, so an unknown ``/api/...`` stays a JSON 404.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from pathlib import Path, PurePosixPath

from aiohttp import web

#: First path segments that belong to the API, never to the web client.
RESERVED_SEGMENTS = ("api", "ws", "docs", "redoc", "openapi.json")

# The route matches only paths outside the reserved prefixes, so those keep today's answers
# (404 / 405 as JSON) exactly.
_RESERVED = "|".join(re.escape(segment) for segment in RESERVED_SEGMENTS)
ROUTE = rf"/{{path:(?!(?:{_RESERVED})(?:/|$)).*}}"

INDEX = "index.html"
ASSETS_DIR = "assets"
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
# Vite names built files ``name-<hash>.ext`` (hex or base64url, 8 characters or more).
_HASHED = re.compile(r"-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$")

#: Content types by extension; the OS mimetypes database differs between machines (Windows reads
#: the registry, some Linux images lack .woff2 or call .js application/javascript).
MIME_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}
FALLBACK_TYPE = "application/octet-stream"


def content_type(path: PurePosixPath | Path) -> str:
    """The Content-Type for a file name: our table first, the OS database for the rest."""
    known = MIME_TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name, strict=False)
    return guessed or FALLBACK_TYPE


def cache_control(relative: PurePosixPath) -> str:
    """Hashed build outputs under ``assets/`` never change; everything else is revalidated."""
    if relative.parts[:1] == (ASSETS_DIR,) and _HASHED.search(relative.name):
        return IMMUTABLE
    return NO_CACHE


class WebRoot:
    """Resolves request paths to files inside one folder, refusing anything that leaves it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.index = self.root / INDEX

    def relative(self, path: str) -> PurePosixPath | None:
        """The request path as a safe relative path, or ``None`` when it must not be served.

        Refused: ``..`` (also when it arrived percent-encoded), backslashes and NUL, and dot
        files or folders (``.env``, ``.git``) other than ``.well-known``.
        """
        if "\\" in path or "\x00" in path:
            return None
        parts = [part for part in path.split("/") if part not in ("", ".")]
        for part in parts:
            if part == ".." or (part.startswith(".") and part != ".well-known"):
                return None
        return PurePosixPath(*parts)

    def locate(self, relative: PurePosixPath) -> Path | None:
        """The regular file ``relative`` names inside the root (symlinks resolved), or ``None``.

        Raises 404 for a symlink that leads out of the root (or in a loop). Blocking (it
        touches the disk): run it in a worker thread.
        """
        try:
            target = (self.root / relative).resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise web.HTTPNotFound() from exc
        if not target.is_relative_to(self.root):
            raise web.HTTPNotFound()
        try:
            return target if target.is_file() else None
        except OSError:
            return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """A file under the root, else ``index.html`` for the client's own routes."""
        relative = self.relative(request.match_info["path"])
        if relative is None:
            raise web.HTTPNotFound()
        target = await asyncio.to_thread(self.locate, relative) if relative.parts else None
        if target is not None:
            return _file(target, cache_control(relative))
        if relative.parts[:1] == (ASSETS_DIR,):
            # A build output that is not there (an old hash after a redeploy) is a 404: the
            # index page in its place would only fail in the browser as a wrong MIME type.
            raise web.HTTPNotFound()
        return _file(self.index, NO_CACHE)


def _file(path: Path, cache: str) -> web.FileResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type(path),
            "Cache-Control": cache,
            "X-Content-Type-Options": "nosniff",
        },
    )


def install(app: web.Application, root: Path) -> None:
    """Serve ``root`` at ``/``; call after every other route so that those win."""
    web_root = WebRoot(root)
    app.router.add_get(ROUTE, web_root.handle, name="web-client")
