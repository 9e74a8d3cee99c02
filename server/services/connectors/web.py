"""The web connector: RSS/Atom feeds and HTML pages over HTTP(S), as a polite client.

- robots.txt is fetched once per host (cached for an hour) and obeyed for our user agent
  ``AgenticDesktop/<version>``; a refused URL is a failure naming the rule, never fetched.
- Requests to one host are rate-limited (``aiolimiter``, a leaky bucket per host).
- Conditional GET: each URL's ``ETag``/``Last-Modified`` live in ``state["http"]``; a 304 counts as
  unchanged. Feed entries and pages already seen are remembered by a digest in ``state`` too, so a
  feed that changed by one entry yields one item.
- Feeds are parsed by ``feedparser`` from the bytes fetched here (off the loop; feedparser never
  fetches anything itself). Pages come back as HTML bytes with their title: readable-text extraction
  is the content service's job.

The HTTP client is a constructor argument so the app can pass its guarded outbound client (allow/deny
lists); without one a plain client with timeouts and the user agent is made and owned here.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
from pydantic import AliasChoices, Field, field_validator

from server.services.connectors._common import USER_AGENT, ConfigModel, check_config, iso, now
from server.services.connectors.base import ConnectorError, FetchedItem, FetchResult

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from concurrent.futures import Executor

    from aiolimiter import AsyncLimiter

T = TypeVar("T")
# (new items, their (ref, digest), entries unchanged, failures) of one feed
_FeedWork = tuple[list[FetchedItem], list[tuple[str, str]], int, list[tuple[str, str]]]

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf")
ROBOTS_TTL = 3600.0  # seconds a host's robots.txt is trusted
MAX_HOSTS = 512  # robots.txt and limiters kept for at most this many hosts
MAX_REMEMBERED = 5000  # entry digests kept in state per source (the newest)
FOLLOW_CONCURRENCY = 4


class WebConfig(ConfigModel):
    """A feed or a page to watch."""

    url: str = Field(
        validation_alias=AliasChoices("url", "feed_url"),
        description="http(s) URL of an RSS/Atom feed or an HTML page (``feed_url`` is accepted too)",
        max_length=2048,
    )
    mode: Literal["auto", "feed", "page"] = Field(
        "auto", description="auto: a feed when the answer parses as one, else a page"
    )
    max_items: int = Field(100, ge=1, le=10_000, description="At most this many feed entries a run")
    follow_links: bool = Field(False, description="Fetch each new feed entry's page as its body")
    timeout: float = Field(20.0, gt=0, le=300, description="Seconds before a request counts as failed")
    max_bytes: int = Field(20 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, description="Largest body read")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            port = parts.port  # a malformed port raises here
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            scheme = parts.scheme or "none"
            raise ValueError(f"unsupported URL scheme '{scheme}': use an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError("the URL names no host")
        del port
        return value


@dataclass(slots=True)
class _Robots:
    parser: RobotFileParser
    fetched: float


class _TitleParser(HTMLParser):
    """The text of the first ``<title>`` (stdlib's tolerant parser; stops caring after it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._inside = False
        self.parts: list[str] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self.done:
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._inside:
            self._inside = False
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.parts.append(data)


def html_title(body: bytes, charset: str | None) -> str | None:
    """The page's ``<title>``, whitespace collapsed (only the first 64 KB are looked at)."""
    parser = _TitleParser()
    parser.feed(body[:65536].decode(charset or "utf-8", errors="replace"))
    title = " ".join("".join(parser.parts).split())
    return title or None


def _digest(*parts: str | bytes | None) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else (part or b""))
        sha.update(b"\x00")
    return sha.hexdigest()[:32]


def _reason(exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Skip(Exception):
    """One URL could not be fetched; the message is the reason (becomes a failure entry)."""


@dataclass(slots=True)
class _Response:
    status: int
    url: str
    body: bytes
    content_type: str
    charset: str | None
    etag: str | None
    last_modified: str | None


class WebConnector:
    """Feeds and pages over HTTP(S)."""

    kind = "web"

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        rate_per_second: float = 2.0,
        user_agent: str = USER_AGENT,
        parse_executor: Executor | None = None,
    ) -> None:
        """``parse_executor``: where feeds are parsed (default: a thread). feedparser is pure Python
        (~1 ms an entry) and holds the GIL while it works; a ``ProcessPoolExecutor`` keeps a big
        feed from stealing the event loop's time."""
        self._executor = parse_executor
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(20.0),
            headers={"User-Agent": user_agent},
            follow_redirects=True,
        )
        self._user_agent = user_agent
        self._rate = rate_per_second
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._limiters: dict[str, AsyncLimiter] = {}

    async def aclose(self) -> None:
        """Close the HTTP client when this connector made it."""
        if self._own_client:
            await self._client.aclose()

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return check_config(WebConfig, config)

    async def test(self, config: Mapping[str, Any]) -> str:
        cfg = WebConfig.model_validate(self.validate(config))
        result = await self.fetch_new(cfg.model_dump(), {})
        if result.failures:
            ref, why = result.failures[0]
            raise ConnectorError(f"{ref}: {why}")
        return f"{cfg.url}: {len(result.items)} item(s)"

    async def fetch_new(self, config: Mapping[str, Any], state: dict[str, Any]) -> FetchResult:
        cfg = WebConfig.model_validate(self.validate(config))
        result = FetchResult()
        http_state: dict[str, dict[str, str]] = state.setdefault("http", {})
        try:
            response = await self._get(cfg.url, cfg, http_state.get(cfg.url))
        except _Skip as exc:
            result.failures.append((cfg.url, str(exc)))
            return result
        if response.status == 304:
            result.unchanged += 1
            return result
        validators = {
            key: value
            for key, value in (("etag", response.etag), ("last_modified", response.last_modified))
            if value
        }
        if validators:
            http_state[cfg.url] = validators
        else:
            http_state.pop(cfg.url, None)

        if cfg.mode == "feed" or (cfg.mode == "auto" and _looks_like_feed(response)):
            seen: dict[str, str] = state.setdefault("entries", {})
            work = await self._off_loop(_feed_work, response, cfg, seen)
            if work is not None:
                await self._feed_items(cfg, work, seen, result)
                return result
            if cfg.mode == "feed":
                result.failures.append((cfg.url, f"not an RSS or Atom feed ({response.content_type})"))
                return result
        await self._page_item(cfg, response, state, result)
        return result

    async def _off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """CPU-bound work in the parse executor when one was given, else in a thread."""
        if self._executor is None:
            return await asyncio.to_thread(function, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # -- feeds and pages --

    async def _feed_items(
        self, cfg: WebConfig, work: _FeedWork, seen: dict[str, str], result: FetchResult
    ) -> None:
        """New or changed entries as items; with ``follow_links`` each one's page becomes its body."""
        items, digests, unchanged, failures = work
        result.unchanged += unchanged
        result.failures.extend(failures)
        if cfg.follow_links:
            gate = asyncio.Semaphore(FOLLOW_CONCURRENCY)
            items = list(await asyncio.gather(*(self._full_page(cfg, item, gate, result) for item in items)))
        result.items.extend(items)
        for ref, digest in digests:
            seen.pop(ref, None)
            seen[ref] = digest  # re-inserted: the dict's order is oldest-first
        while len(seen) > MAX_REMEMBERED:
            seen.pop(next(iter(seen)))

    async def _full_page(
        self, cfg: WebConfig, item: FetchedItem, gate: asyncio.Semaphore, result: FetchResult
    ) -> FetchedItem:
        """The entry with its linked page as the body; as it was (and a failure) when that fails."""
        if not item.url:
            return item
        async with gate:
            try:
                page = await self._get(item.url, cfg, None)
            except _Skip as exc:
                result.failures.append((item.url, f"full page not fetched: {exc}"))
                return item
        return replace(
            item,
            body=page.body,
            mime_type=page.content_type or "text/html",
            metadata={**item.metadata, "full_page": True},
        )

    async def _page_item(
        self, cfg: WebConfig, response: _Response, state: dict[str, Any], result: FetchResult
    ) -> None:
        """The page as one item, unless its bytes are the same as last run's."""
        digest, title = await asyncio.to_thread(_page_facts, response)  # a big page hashes slowly
        pages: dict[str, str] = state.setdefault("pages", {})
        if pages.get(cfg.url) == digest:
            result.unchanged += 1
            return
        pages[cfg.url] = digest
        result.items.append(
            FetchedItem(
                ref=response.url,
                body=response.body,
                fetched_at=now(),
                title=title,
                url=response.url,
                mime_type=response.content_type or None,
                metadata={"status": response.status, "requested_url": cfg.url},
            )
        )

    # -- HTTP with robots.txt and rate limits --

    async def _get(self, url: str, cfg: WebConfig, validators: dict[str, str] | None) -> _Response:
        """GET ``url`` if robots.txt allows it; ``_Skip`` with the reason when it cannot be had."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Skip(f"not an http(s) URL: {url}")
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = await self._robots_for(origin, cfg)
        if not robots.can_fetch(self._user_agent, url):
            raise _Skip(f"refused by {origin}/robots.txt for user agent {self._user_agent}")
        headers = {"User-Agent": self._user_agent}
        if validators:
            if "etag" in validators:
                headers["If-None-Match"] = validators["etag"]
            if "last_modified" in validators:
                headers["If-Modified-Since"] = validators["last_modified"]
        await self._limiter(origin).acquire()
        try:
            async with self._client.stream("GET", url, headers=headers, timeout=cfg.timeout) as response:
                if response.status_code == 304:
                    return _Response(304, str(response.url), b"", "", None, None, None)
                if response.status_code >= 400:
                    raise _Skip(f"HTTP {response.status_code} {response.reason_phrase} from {url}")
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > cfg.max_bytes:
                    raise _Skip(f"body of {declared} bytes is over the limit of {cfg.max_bytes}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > cfg.max_bytes:
                        raise _Skip(f"body is over the limit of {cfg.max_bytes} bytes")
                    chunks.append(chunk)
                content_type = response.headers.get("Content-Type", "")
                return _Response(
                    status=response.status_code,
                    url=str(response.url),
                    body=b"".join(chunks),
                    content_type=content_type.split(";")[0].strip().lower(),
                    charset=response.charset_encoding,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
        except httpx.HTTPError as exc:
            raise _Skip(_reason(exc, cfg.timeout)) from None

    def _limiter(self, origin: str) -> AsyncLimiter:
        from aiolimiter import AsyncLimiter

        limiter = self._limiters.get(origin)
        if limiter is None:
            if len(self._limiters) >= MAX_HOSTS:
                self._limiters.pop(next(iter(self._limiters)))
            # A leaky bucket: bursts of up to `rate` requests (at least one), then `rate` a second.
            rate = self._rate
            limiter = AsyncLimiter(rate, 1.0) if rate >= 1 else AsyncLimiter(1, 1.0 / rate)
            self._limiters[origin] = limiter
        return limiter

    async def _robots_for(self, origin: str, cfg: WebConfig) -> RobotFileParser:
        """The host's robots.txt rules, fetched at most once an hour (one fetch for concurrent asks).

        As RFC 9309 says: 4xx means no rules (allow all), 5xx means disallow all for now (not cached).
        An unreachable host is a ``_Skip`` (the page would fail the same way)."""
        cached = self._robots.get(origin)
        if cached is not None and time.monotonic() - cached.fetched < ROBOTS_TTL:
            return cached.parser
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._robots.get(origin)
            if cached is not None and time.monotonic() - cached.fetched < ROBOTS_TTL:
                return cached.parser
            robots_url = urljoin(origin, "/robots.txt")
            parser = RobotFileParser(robots_url)
            await self._limiter(origin).acquire()
            try:
                response = await self._client.get(
                    robots_url, headers={"User-Agent": self._user_agent}, timeout=cfg.timeout
                )
            except httpx.HTTPError as exc:
                raise _Skip(f"{robots_url}: {_reason(exc, cfg.timeout)}") from None
            if response.status_code >= 500:
                raise _Skip(
                    f"{robots_url} answered HTTP {response.status_code}: the host is failing, "
                    "and robots.txt rules say to fetch nothing until it answers"
                )
            if response.status_code >= 400:
                parser.allow_all = True
            else:
                parser.parse(response.text.splitlines())
            if len(self._robots) >= MAX_HOSTS:
                self._robots.pop(next(iter(self._robots)))
            self._robots[origin] = _Robots(parser, time.monotonic())
            return parser


def _page_facts(response: _Response) -> tuple[str, str | None]:
    """(digest of the body, HTML title or None); runs in a thread."""
    title = html_title(response.body, response.charset) if "html" in response.content_type else None
    return _digest(response.body), title


def _looks_like_feed(response: _Response) -> bool:
    if response.content_type in FEED_TYPES or response.content_type.endswith("+xml"):
        return True
    if "html" in response.content_type:
        return False
    head = response.body[:512].lstrip().lower()
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf"))


def _feed_work(response: _Response, cfg: WebConfig, seen: dict[str, str]) -> _FeedWork | None:
    """The feed's new or changed entries, or None when the bytes are not a feed.

    Runs in a thread or another process (everything in and out pickles); feedparser gets the bytes
    fetched here and never fetches anything itself."""
    import feedparser

    headers = {"content-location": response.url, "content-type": response.content_type or "application/xml"}
    parsed = feedparser.parse(response.body, response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        return None
    return _new_entries(cfg, parsed, seen)


def _new_entries(cfg: WebConfig, feed: Any, seen: dict[str, str]) -> _FeedWork:
    """(items, their (ref, digest), unchanged count, failures) of a parsed feed.

    An entry is unchanged when its id (else link) was seen with the same title, body and date."""
    feed_title = feed.feed.get("title")
    items: list[FetchedItem] = []
    digests: list[tuple[str, str]] = []
    failures: list[tuple[str, str]] = []
    unchanged = 0
    fetched_at = now()
    for entry in feed.entries[: cfg.max_items]:
        ref = entry.get("id") or entry.get("link")
        if not ref:
            failures.append((cfg.url, f"entry '{entry.get('title', '?')}' has neither id nor link"))
            continue
        content = entry.get("content")
        body = (content[0].get("value", "") if content else entry.get("summary", "")) or ""
        digest = _digest(entry.get("title"), body, _raw(entry, "updated") or _raw(entry, "published"))
        if seen.get(ref) == digest:
            unchanged += 1
            continue
        digests.append((ref, digest))
        items.append(
            FetchedItem(
                ref=ref,
                body=body.encode(),
                fetched_at=fetched_at,
                title=entry.get("title"),
                url=entry.get("link"),
                mime_type=(content[0].get("type") if content else None) or "text/html",
                metadata={
                    "feed_title": feed_title,
                    "feed_url": cfg.url,
                    "author": entry.get("author"),
                    "published": _entry_time(entry, "published"),
                    "updated": _entry_time(entry, "updated"),
                    "tags": [tag.get("term") for tag in entry.get("tags", []) if tag.get("term")],
                },
            )
        )
    return items, digests, unchanged, failures


def _raw(entry: Any, name: str) -> Any:
    """A field as the feed gave it (feedparser's ``get`` maps a missing ``updated`` to ``published``
    with a DeprecationWarning)."""
    return dict.get(entry, name)


def _entry_time(entry: Any, name: str) -> str | None:
    parsed = _raw(entry, f"{name}_parsed")
    if parsed is None:
        return _raw(entry, name)
    from datetime import UTC, datetime

    return iso(datetime(*parsed[:6], tzinfo=UTC))
