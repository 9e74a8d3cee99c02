"""A fake web host on loopback: RSS 2.0 and Atom feeds, HTML pages, robots.txt, conditional GET.

Serves what a real site serves to a feed reader, with switches for the bad days:

- ``feeds[name]`` / ``pages[name]``: documents at ``/feeds/<name>`` and ``/pages/<name>``; build feeds
  with ``add_feed(name, entries, kind="rss"|"atom")`` or ``add_generated_feed(name, n)`` (N items,
  made once and cached, so a 1,000-item feed is served in well under a millisecond of work);
- every document has an ``ETag`` (its digest) and a ``Last-Modified``; ``If-None-Match`` or
  ``If-Modified-Since`` that still hold get ``304 Not Modified``; ``conditional = False`` ignores
  them (a server without caching);
- ``robots``: the text of ``/robots.txt`` (``None``: 404, no rules);
- ``fail_status``: answer everything (robots.txt included) with this status ("failing host");
  ``fail_paths``: only these paths fail with 500;
- ``stall``: hold every answer until ``release()`` or ``stop()`` ("slow host": a client timeout is the
  only way out, and nothing here sleeps);
- ``requests``: (method, path, request headers) of everything asked, for assertions.

Run it alone with ``python -m tests.fakes.feeds --port 8081 --items 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass
class FeedEntry:
    """One item of a feed."""

    id: str
    title: str
    link: str
    summary: str
    published: datetime = BASE_TIME
    author: str | None = "Fake Author"
    content_html: str | None = None


@dataclass
class Document:
    """A served body with the validators a real server would send."""

    body: bytes
    content_type: str
    last_modified: datetime = field(default_factory=lambda: BASE_TIME)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'


def rss(title: str, link: str, entries: list[FeedEntry]) -> bytes:
    """An RSS 2.0 document."""
    items = "".join(
        "<item>"
        f'<guid isPermaLink="false">{escape(entry.id)}</guid>'
        f"<title>{escape(entry.title)}</title>"
        f"<link>{escape(entry.link)}</link>"
        f"<description>{escape(entry.summary)}</description>"
        + (f"<author>{escape(entry.author)}</author>" if entry.author else "")
        + f"<pubDate>{format_datetime(entry.published)}</pubDate>"
        "</item>"
        for entry in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>fake feed</description>"
        f"{items}</channel></rss>"
    ).encode()


def atom(title: str, link: str, entries: list[FeedEntry]) -> bytes:
    """An Atom 1.0 document."""
    updated = max((entry.published for entry in entries), default=BASE_TIME).isoformat()
    items = "".join(
        "<entry>"
        f"<id>{escape(entry.id)}</id>"
        f"<title>{escape(entry.title)}</title>"
        f'<link href="{escape(entry.link)}"/>'
        f"<updated>{entry.published.isoformat()}</updated>"
        f"<published>{entry.published.isoformat()}</published>"
        + (f"<author><name>{escape(entry.author)}</name></author>" if entry.author else "")
        + f"<summary>{escape(entry.summary)}</summary>"
        + (f'<content type="html">{escape(entry.content_html)}</content>' if entry.content_html else "")
        + "</entry>"
        for entry in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>{escape(link)}</id><updated>{updated}</updated>"
        f'<link href="{escape(link)}"/>{items}</feed>'
    ).encode()


def html_page(title: str, text: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><article><h1>{escape(title)}</h1><p>{escape(text)}</p></article></body></html>"
    ).encode()


class FakeWebHost:
    """One web host on a loopback address (127.0.0.1 unless ``start`` says another; start several)."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}
        self.robots: str | None = "User-agent: *\nAllow: /\n"
        self.fail_status: int | None = None
        self.fail_paths: set[str] = set()
        self.stall = False
        self.conditional = True
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.port = 0
        self.host = "127.0.0.1"
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- content --

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_feed(
        self, name: str, entries: list[FeedEntry], *, kind: str = "rss", title: str = "Fake Feed"
    ) -> str:
        """Serve a feed at ``/feeds/<name>``; the URL."""
        link = f"{self.url}/"
        body = rss(title, link, entries) if kind == "rss" else atom(title, link, entries)
        content_type = "application/rss+xml" if kind == "rss" else "application/atom+xml"
        self.documents[f"/feeds/{name}"] = Document(body, content_type, _newest(entries))
        return f"{self.url}/feeds/{name}"

    def add_generated_feed(self, name: str, count: int, *, kind: str = "rss", words: int = 40) -> str:
        """A feed of ``count`` generated entries, each with a distinct text of ``words`` words."""
        entries = [
            FeedEntry(
                id=f"urn:fake:{name}:{n}",
                title=f"Generated item {n}",
                link=f"{self.url}/pages/{name}-{n}",
                summary=" ".join(f"w{(n * 7 + k) % 997}" for k in range(words)) + f" item{n}",
                published=BASE_TIME + timedelta(minutes=n),
            )
            for n in range(count)
        ]
        return self.add_feed(name, entries, kind=kind, title=f"Generated {name}")

    def add_page(self, name: str, title: str, text: str) -> str:
        """Serve an HTML page at ``/pages/<name>``; the URL."""
        self.documents[f"/pages/{name}"] = Document(html_page(title, text), "text/html; charset=utf-8")
        return f"{self.url}/pages/{name}"

    def touch(self, path: str, when: datetime | None = None) -> None:
        """Mark a document as modified (a new Last-Modified; the ETag follows the body)."""
        self.documents[path].last_modified = when or datetime.now(UTC).replace(microsecond=0)

    def release(self) -> None:
        """Let stalled requests finish."""
        self._released.set()

    def paths_requested(self) -> list[str]:
        return [path for _, path, _ in self.requests]

    # -- server --

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        self._released = asyncio.Event()
        app = web.Application(middlewares=[self._switches])
        app.router.add_get("/robots.txt", self._robots)
        app.router.add_get("/{path:.*}", self._document)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, self.port if port is None else port, reuse_address=True)
        await site.start()
        self.host = host
        self.port = self._runner.addresses[0][1]
        return self.url

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _switches(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if self.stall:
            await self._released.wait()
        if self.fail_status is not None:
            return web.Response(status=self.fail_status, text="fake host failure")
        if request.path in self.fail_paths:
            return web.Response(status=500, text="fake page failure")
        return await handler(request)

    async def _robots(self, request: web.Request) -> web.Response:
        if self.robots is None:
            raise web.HTTPNotFound()
        return web.Response(text=self.robots, content_type="text/plain")

    async def _document(self, request: web.Request) -> web.Response:
        document = self.documents.get(request.path)
        if document is None:
            raise web.HTTPNotFound()
        headers = {
            "ETag": document.etag,
            "Last-Modified": format_datetime(document.last_modified, usegmt=True),
        }
        if self.conditional and _not_modified(request, document):
            return web.Response(status=304, headers=headers)
        content_type, _, params = document.content_type.partition(";")
        charset = params.split("=", 1)[1].strip() if "charset=" in params else None
        return web.Response(body=document.body, content_type=content_type, charset=charset, headers=headers)


def _newest(entries: list[FeedEntry]) -> datetime:
    return max((entry.published for entry in entries), default=BASE_TIME)


def _not_modified(request: web.Request, document: Document) -> bool:
    """RFC 9110: If-None-Match wins when present; else If-Modified-Since."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return tags.strip() == "*" or document.etag in [tag.strip() for tag in tags.split(",")]
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return document.last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake web host with an RSS feed of generated items.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()

    async def serve() -> None:
        host = FakeWebHost()
        host.port = args.port
        await host.start()
        url = host.add_generated_feed("generated", args.items)
        print(f"serving {url}", flush=True)  # noqa: T201
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
