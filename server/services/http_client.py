"""The outbound HTTP client: every call the app makes to the outside world (connectors, webhooks,
``/api/v1/http/*``) goes through one guarded httpx transport.

For each exchange the transport (``GuardedTransport``, handed out inside ``OutboundHttp.client()``):

1. checks the destination against the policy (allow/deny lists of hosts and CIDR networks;
   link-local and cloud metadata addresses denied by default; the app's own API and any request
   carrying the app's own API key refused), resolving the host name off the loop and checking every
   address it resolves to; redirects pass through the transport again, so each hop is checked;
2. waits for the host's rate limiter (aiolimiter, per host) and for a rate-limit reset the host
   announced (``X-RateLimit-Remaining: 0`` + ``X-RateLimit-Reset``), never longer than the maximum wait;
3. asks the host's circuit breaker (``server.services.breaker``) and refuses fast while it is open;
4. retries idempotent methods (tenacity: exponential backoff with jitter) on connect errors and on
   429/502/503/504, honouring ``Retry-After`` (seconds or an HTTP date); a wait longer than the
   maximum ends the retries and the last answer is returned as it is.

``OutboundHttp`` adds what the API needs on top: credentials by reference to the secrets vault
(resolved in memory, scrubbed from everything returned), a persisted record per request, metrics,
and stream downloads confined to ``<data_dir>/downloads/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import socket
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal

import httpx
import orjson
import psutil
from aiolimiter import AsyncLimiter
from pydantic import BaseModel
from sqlalchemy import func, select
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from server.db.base import new_id, utcnow
from server.db.models import HttpRequestRow
from server.events import ApiStarted, DownloadProgressed
from server.services.breaker import BreakerState, CircuitBreaker
from server.services.errors import (
    AgenticError,
    DependencyDown,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
)
from server.services.secrets import references, substitute

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus, Subscription
    from server.config import Settings
    from server.services.secrets import SecretsService

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
BREAKER_STATUSES = frozenset({500, 502, 503, 504})  # the host is in trouble (429 is the host coping)
# Link-local (cloud metadata at 169.254.169.254, fe80::), "this network", AWS's IPv6 metadata address.
DEFAULT_DENIED = tuple(
    ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "fd00:ec2::254/128")
)
OPTIONS_KEY = "agentic.options"  # request extension: RetryOptions for this request
OUTCOME_KEY = "agentic.outcome"  # request/response extension: Outcome of the exchange
SECRET_MASK = "[secret]"
LATENCY_WINDOW = 2048
DOWNLOAD_CHUNK = 256 * 1024
DOWNLOADS = "downloads"
INCOMING = ".incoming"  # partial downloads, inside downloads/ so the final rename stays on one disk


# -- errors: service errors (mapped to status codes by the API) and httpx errors (for connectors) --


class DestinationDenied(Forbidden, httpx.RequestError):
    """The destination is not allowed by the outbound policy; nothing was sent."""


class CircuitOpen(DependencyDown, httpx.TransportError):
    """The host failed repeatedly; calls are refused until ``retry_after`` seconds have passed."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HostRateLimited(RateLimited, httpx.TransportError):
    """The host asked us to wait longer than the maximum wait before the next request."""


# -- helpers --


def retry_after_seconds(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds a response asks to wait: ``Retry-After`` (seconds or HTTP date), else an announced
    rate-limit reset when no requests remain; ``None`` when it says nothing."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
    if rate_limit_remaining(headers) == 0:
        return rate_limit_reset_seconds(headers, now=now)
    return None


def _header(headers: httpx.Headers, *names: str) -> str | None:
    return next((headers[name] for name in names if name in headers), None)


def rate_limit_remaining(headers: httpx.Headers) -> int | None:
    value = _header(headers, "x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining")
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def rate_limit_reset_seconds(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds until the announced reset; the header is a delay or (when large) a Unix time."""
    value = _header(headers, "x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")
    try:
        reset = float(value) if value is not None else None
    except ValueError:
        return None
    if reset is None:
        return None
    if reset > 1_000_000_000:  # an epoch time, not a delay
        reset -= time.time() if now is None else now
    return max(0.0, reset)


def host_key(url: httpx.URL) -> str:
    """``host:port``: what the breaker, the rate limiter and the metrics count by."""
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{port}"


def shown_url(url: httpx.URL) -> str:
    """The URL without user:password, as records and errors show it."""
    return str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)


def _address(value: str) -> Address:
    return ipaddress.ip_address(value.split("%", 1)[0])


def _as_ip(host: str) -> Address | None:
    try:
        return _address(host)
    except ValueError:
        return None


def _plain(address: Address) -> Address:
    """IPv4-mapped IPv6 addresses (``::ffff:169.254.169.254``) are judged as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _split_entries(entries: Iterable[str]) -> tuple[list[str], list[Network]]:
    names: list[str] = []
    networks: list[Network] = []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.append(entry.removeprefix("*.").lstrip("."))
    return names, networks


def _name_matches(host: str, names: list[str]) -> bool:
    return any(host == name or host.endswith("." + name) for name in names)


# -- the destination policy --


class DestinationPolicy:
    """Which destinations outside calls may reach; ``check`` raises ``DestinationDenied`` with why."""

    def __init__(self, allow: Iterable[str], deny: Iterable[str]) -> None:
        self.allow_names, self.allow_networks = _split_entries(allow)
        self.deny_names, self.deny_networks = _split_entries(deny)
        self.own_endpoints: set[tuple[Address, int]] = set()
        self._local_addresses: set[Address] | None = None

    @property
    def restricted(self) -> bool:
        """Whether an allow list is in force (else anything not denied may be reached)."""
        return bool(self.allow_names or self.allow_networks)

    async def resolve(self, host: str, port: int) -> set[Address]:
        """The addresses ``host`` stands for (resolved off the loop with ``loop.getaddrinfo``)."""
        literal = _as_ip(host)
        if literal is not None:
            return {literal}
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpx.ConnectError(f"Cannot resolve {host}: {getattr(exc, 'strerror', exc)}") from exc
        return {_address(str(info[4][0])) for info in infos}

    async def check(self, url: httpx.URL) -> set[Address]:
        """The destination's addresses when every one of them may be reached; else DestinationDenied."""
        host = url.host.lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        if _name_matches(host, self.deny_names):
            raise DestinationDenied(f"{host} is on the outbound deny list (http_deny)")
        addresses = await self.resolve(host, port)
        named_allowed = _name_matches(host, self.allow_names)
        for raw in addresses:
            address = _plain(raw)
            if any(address in net for net in self.deny_networks):
                raise DestinationDenied(f"{host} ({address}) is on the outbound deny list (http_deny)")
            listed = any(address in net for net in self.allow_networks)
            if self.restricted and not (named_allowed or listed):
                raise DestinationDenied(
                    f"{host} ({address}) is not on the outbound allow list (http_allow): add it there"
                )
            if not listed and any(address in net for net in DEFAULT_DENIED):
                raise DestinationDenied(
                    f"{host} ({address}) is a link-local or cloud metadata address, denied by default "
                    "(allow its network in http_allow if it is really meant)"
                )
            if self._is_own(address, port):
                raise DestinationDenied(
                    f"{host}:{port} is this app's own API: requests to it are refused (no loops)"
                )
        return addresses

    def _is_own(self, address: Address, port: int) -> bool:
        for own, own_port in self.own_endpoints:
            if own_port != port:
                continue
            if address == own:
                return True
            if own.is_unspecified and (address.is_loopback or address in self._local()):
                return True
        return False

    def _local(self) -> set[Address]:
        """This machine's interface addresses (for an API bound to 0.0.0.0 / ::)."""
        if self._local_addresses is None:
            self._local_addresses = {
                _plain(_address(item.address))
                for items in psutil.net_if_addrs().values()
                for item in items
                if item.family in (socket.AF_INET, socket.AF_INET6)
            }
        return self._local_addresses


# -- per-request options, outcomes and statistics --


@dataclass(frozen=True, slots=True)
class RetryOptions:
    """How one request may be retried and paced."""

    max_attempts: int
    backoff_initial: float
    backoff_max: float
    backoff_factor: float = 2.0
    requests_per_minute: float | None = None  # None: the host's default limit


@dataclass(slots=True)
class Outcome:
    """What happened to one logical request (all its attempts), readable from the response's and the
    request's ``extensions["agentic.outcome"]``."""

    attempts: int = 0
    rate_limited: bool = False  # a 429 was received, or a rate limit made it wait
    waited_s: float = 0.0  # seconds spent waiting on rate limits (not backoff)


@dataclass(slots=True)
class _Host:
    breaker: CircuitBreaker
    requests: int = 0
    failures: int = 0
    rate_limited: int = 0
    paused_until: float = 0.0  # monotonic time of an announced rate-limit reset


@dataclass(slots=True)
class _Stats:
    total: int = 0
    successful: int = 0
    failed: int = 0
    retries: int = 0
    rate_limited: int = 0
    throttled: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))


class _StopWhenWaitTooLong(stop_base):
    """Stop retrying when the next wait (e.g. a Retry-After) is longer than the maximum wait."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep > self.limit


def _is_retry_status(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends through ``OutboundHttp``'s policy, limits, breakers and retries.

    Closing it does not close the shared connection pool (``OutboundHttp.close`` does)."""

    def __init__(self, outbound: OutboundHttp) -> None:
        self._outbound = outbound

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._outbound.send(request)


# -- results --


class RateLimitInfo(BaseModel):
    limit: int | None = None
    remaining: int | None = None
    reset_time: datetime | None = None


class HttpResult(BaseModel):
    """The answer of one ``POST /http/request`` (secret values replaced by ``[secret]``)."""

    request_id: str
    method: str
    url: str
    status_code: int
    headers: dict[str, str]
    content: str
    json_body: Any = None
    truncated: bool
    size_bytes: int
    response_time_ms: float
    attempts: int
    retry_count: int
    rate_limited: bool
    rate_limit_info: RateLimitInfo | None
    created_at: datetime


class HttpRecord(BaseModel):
    """A stored request: never a header, a body or a secret."""

    request_id: str
    kind: str
    method: str
    url: str
    host: str
    status_code: int | None
    attempts: int
    retry_count: int
    duration_ms: float
    response_bytes: int
    rate_limited: bool
    error: str | None
    destination: str | None
    sha256: str | None
    requested_by: str | None
    created_at: datetime


class HostMetrics(BaseModel):
    host: str
    state: BreakerState
    consecutive_failures: int
    retry_after_s: float
    opened_count: int
    requests: int
    failures: int
    rate_limited: int


class HttpMetrics(BaseModel):
    """Counters since the backend started (``since``); latency is time to the response headers."""

    since: datetime
    total_requests: int
    successful_requests: int
    failed_requests: int
    success_rate: float  # 0..1
    total_retries: int
    rate_limited_requests: int  # 429 answers received
    throttled_requests: int  # requests that waited for the local per-host rate limiter
    average_response_time_ms: float
    p50_response_time_ms: float
    p95_response_time_ms: float
    p99_response_time_ms: float
    circuit_breakers: dict[str, BreakerState]
    hosts: list[HostMetrics]
    stored_requests: int


class HttpHealth(BaseModel):
    status: Literal["healthy", "degraded"]
    detail: str
    open_circuits: list[str]
    hosts_tracked: int
    total_requests: int


class DownloadResult(BaseModel):
    download_id: str
    url: str
    destination_path: str  # relative to the downloads folder
    path: str  # absolute, on this machine
    bytes: int
    sha256: str
    content_type: str | None
    duration_ms: float
    attempts: int


@dataclass(slots=True)
class RequestSpec:
    """What ``OutboundHttp.request`` is asked to send."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    json_data: Any = None
    data: str | None = None
    timeout: float | None = None
    max_attempts: int | None = None
    backoff_factor: float | None = None
    requests_per_minute: float | None = None
    agent_id: str | None = None  # whose secrets ``{{secret:KEY}}`` in headers refer to
    auth_secret: str | None = None  # shorthand: ``Authorization: <auth_scheme> {{secret:KEY}}``
    auth_scheme: str = "Bearer"
    follow_redirects: bool = False


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return round(ordered[index], 3)


def _scrub(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, SECRET_MASK)
    return text


class OutboundHttp:
    """The one door to the outside world over HTTP; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        api_key: str,
        secrets: SecretsService | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._bus = bus
        self._api_key = api_key
        self._secrets = secrets
        self.policy = DestinationPolicy(settings.http_allow, settings.http_deny)
        if settings.port:
            own = _as_ip(settings.host)
            if own is not None:
                self.policy.own_endpoints.add((own, settings.port))
        self._api_started: Subscription[ApiStarted] = bus.subscribe(ApiStarted)
        self._defaults = RetryOptions(
            max_attempts=settings.http_max_attempts,
            backoff_initial=settings.http_backoff_initial,
            backoff_max=settings.http_backoff_max,
        )
        self._pool = httpx.AsyncHTTPTransport(retries=0)
        self._hosts: dict[str, _Host] = {}
        self._limiters: dict[tuple[str, float], AsyncLimiter] = {}
        self._stats = _Stats()
        self._since = utcnow()
        self.downloads_dir = settings.data_dir / DOWNLOADS

    # -- the guarded client others use --

    def client(
        self, *, timeout: float | None = None, follow_redirects: bool = True, **kwargs: Any
    ) -> httpx.AsyncClient:
        """An httpx client whose every exchange (redirect hops included) passes the destination
        policy, the per-host rate limit and circuit breaker, and is retried when idempotent.

        Close it when done (``async with``); the connection pool it shares stays open. Environment
        proxies and ``.netrc`` are ignored, so nothing bypasses the policy."""
        return httpx.AsyncClient(
            transport=GuardedTransport(self),
            timeout=timeout or self._settings.http_timeout,
            follow_redirects=follow_redirects,
            trust_env=False,
            **kwargs,
        )

    async def close(self) -> None:
        """Close the connection pool and stop listening for the API's address."""
        self._api_started.close()
        await self._pool.aclose()

    async def _note_own_api(self) -> None:
        """Take in the addresses the API announced (``ApiStarted``) since the last request."""
        while self._api_started.pending():
            event = await self._api_started.get()  # returns at once: an event is waiting
            url = httpx.URL(event.url)
            own = _as_ip(url.host)
            if own is not None and url.port:
                self.policy.own_endpoints.add((own, url.port))

    def _host(self, key: str) -> _Host:
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(
                CircuitBreaker(
                    failure_threshold=self._settings.http_breaker_threshold,
                    reset_timeout=self._settings.http_breaker_reset,
                )
            )
        return host

    def _limiter(self, key: str, per_minute: float | None) -> AsyncLimiter:
        rate = per_minute or self._settings.http_rate_limit_per_minute
        limiter = self._limiters.get((key, rate))
        if limiter is None:
            # A bucket of one second's worth (at least 1) so bursts stay small.
            limiter = self._limiters[(key, rate)] = AsyncLimiter(
                max(1.0, rate / 60), 60 / rate * max(1.0, rate / 60)
            )
        return limiter

    async def _check(self, request: httpx.Request) -> None:
        await self._note_own_api()
        if self._api_key and (
            self._api_key in str(request.url)
            or any(self._api_key in value for value in request.headers.values())
        ):
            raise DestinationDenied(
                "The request carries this app's own API key: requests to the app's own API are refused"
            )
        if request.url.scheme not in ("http", "https"):
            raise DestinationDenied(f"Only http and https URLs may be requested, not {request.url.scheme}")
        await self.policy.check(request.url)

    async def send(self, request: httpx.Request) -> httpx.Response:
        """One logical exchange: policy, then attempts with limits, breaker and retries."""
        outcome: Outcome = request.extensions.setdefault(OUTCOME_KEY, Outcome())
        options: RetryOptions = request.extensions.get(OPTIONS_KEY) or self._defaults
        await self._check(request)
        key = host_key(request.url)
        replayable = isinstance(request.stream, httpx.ByteStream)
        attempts = options.max_attempts if request.method in IDEMPOTENT and replayable else 1
        backoff = wait_exponential_jitter(
            multiplier=options.backoff_initial,
            max=options.backoff_max,
            exp_base=options.backoff_factor,
            jitter=options.backoff_initial,
        )

        def wait(retry_state: RetryCallState) -> float:
            outcome_ = retry_state.outcome
            if outcome_ is not None and not outcome_.failed:
                hinted = retry_after_seconds(outcome_.result().headers)
                if hinted is not None:
                    return hinted
            return float(backoff(retry_state))

        async def before_sleep(retry_state: RetryCallState) -> None:
            self._stats.retries += 1
            previous = retry_state.outcome
            if previous is not None and not previous.failed:
                await previous.result().aclose()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts) | _StopWhenWaitTooLong(self._settings.http_max_retry_wait),
            wait=wait,
            retry=retry_if_exception_type((httpx.ConnectError, httpx.ConnectTimeout))
            | retry_if_result(_is_retry_status),
            before_sleep=before_sleep,
            retry_error_callback=lambda retry_state: retry_state.outcome.result(),  # type: ignore[union-attr]
        )
        started = time.monotonic()
        try:
            response: httpx.Response = await retrying(self._attempt, request, key, options, outcome)
        except BaseException:
            self._stats.total += 1
            self._stats.failed += 1
            raise
        self._stats.total += 1
        self._stats.latencies_ms.append((time.monotonic() - started) * 1000)
        if response.status_code < 400:
            self._stats.successful += 1
        else:
            self._stats.failed += 1
        response.extensions[OUTCOME_KEY] = outcome
        return response

    async def _attempt(
        self, request: httpx.Request, key: str, options: RetryOptions, outcome: Outcome
    ) -> httpx.Response:
        host = self._host(key)
        pause = host.paused_until - time.monotonic()
        if pause > 0:
            if pause > self._settings.http_max_retry_wait:
                raise HostRateLimited(
                    f"{key} asked to wait {pause:.0f} s before the next request (rate limit), longer "
                    f"than the maximum wait of {self._settings.http_max_retry_wait:g} s",
                    pause,
                )
            outcome.rate_limited = True
            outcome.waited_s += pause
            await asyncio.sleep(pause)
        limiter = self._limiter(key, options.requests_per_minute)
        if not limiter.has_capacity():
            self._stats.throttled += 1
            outcome.rate_limited = True
        async with limiter:
            pass
        if not host.breaker.allow():
            retry_after = host.breaker.retry_after()
            raise CircuitOpen(
                f"{key} failed {host.breaker.failure_threshold} times in a row; calls to it are paused "
                f"for {retry_after:.0f} s more (circuit breaker open)",
                retry_after,
            )
        outcome.attempts += 1
        host.requests += 1
        try:
            response = await self._pool.handle_async_request(request)
        except httpx.TransportError:
            host.failures += 1
            host.breaker.record_failure()
            raise
        except BaseException:
            if host.breaker.state == "half_open":  # the probe never finished: let another one go later
                host.breaker.record_failure()
            raise
        if response.status_code in BREAKER_STATUSES:
            host.failures += 1
            host.breaker.record_failure()
        else:
            host.breaker.record_success()
        if response.status_code == 429:
            host.rate_limited += 1
            self._stats.rate_limited += 1
            outcome.rate_limited = True
        if rate_limit_remaining(response.headers) == 0:
            reset = rate_limit_reset_seconds(response.headers)
            if reset:
                host.paused_until = time.monotonic() + reset
        return response

    # -- /api/v1/http/request --

    def _url(self, value: str, field_name: str = "url") -> httpx.URL:
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise FieldError((field_name,), f"Not a valid URL: {exc}") from None
        if url.scheme not in ("http", "https"):
            raise FieldError(
                (field_name,), f"Only http and https URLs are supported, not '{url.scheme or value}'"
            )
        if not url.host:
            raise FieldError((field_name,), "The URL has no host")
        return url

    async def _resolve_credentials(
        self, headers: dict[str, str], spec_agent: str | None, record_id: str
    ) -> tuple[dict[str, str], list[str]]:
        wanted = sorted(references(headers))
        if not wanted:
            return headers, []
        if not spec_agent:
            raise FieldError(
                ("agent_id",), "Headers refer to secrets ({{secret:KEY}}): say whose secrets with agent_id"
            )
        if self._secrets is None:
            raise DependencyDown("The secrets vault is not open")
        values = await self._secrets.resolve(
            spec_agent, *(f"{{{{secret:{key}}}}}" for key in wanted), task_id=f"http-request {record_id}"
        )
        plain = dict(zip(wanted, values, strict=True))
        return substitute(headers, plain), sorted((v for v in plain.values() if v), key=len, reverse=True)

    async def request(self, spec: RequestSpec, *, requested_by: str | None = None) -> HttpResult:
        """Send ``spec`` through the guarded client; the remote's answer is data (any status).

        A request that cannot be carried out is an error: bad input (422/400), a denied destination
        (403), an open breaker or an unreachable host (503). Each one is recorded either way."""
        url = self._url(spec.url)
        method = spec.method.upper()
        if spec.json_data is not None and spec.data is not None:
            raise FieldError(("json_data",), "Send either json_data or data, not both")
        for name, value in (
            ("url", spec.url),
            ("params", spec.params),
            ("data", spec.data),
            ("json_data", spec.json_data),
        ):
            if references(value):
                raise FieldError((name,), "Secret references ({{secret:KEY}}) are resolved in headers only")
        record_id = new_id()
        headers = dict(spec.headers)
        if spec.auth_secret:
            headers["Authorization"] = f"{spec.auth_scheme} {{{{secret:{spec.auth_secret}}}}}".strip()
        headers, secrets = await self._resolve_credentials(headers, spec.agent_id, record_id)
        options = RetryOptions(
            max_attempts=spec.max_attempts or self._defaults.max_attempts,
            backoff_initial=self._defaults.backoff_initial,
            backoff_max=self._defaults.backoff_max,
            backoff_factor=spec.backoff_factor or self._defaults.backoff_factor,
            requests_per_minute=spec.requests_per_minute,
        )
        created_at = utcnow()
        started = time.monotonic()
        outcome = Outcome()
        record = HttpRequestRow(
            id=record_id,
            kind="request",
            method=method,
            url=_scrub(shown_url(url), secrets),
            host=host_key(url),
            requested_by=requested_by,
            created_at=created_at,
        )
        async with self.client(timeout=spec.timeout, follow_redirects=spec.follow_redirects) as client:
            request = client.build_request(
                method,
                url,
                headers=headers,
                params=spec.params or None,
                json=spec.json_data,
                content=spec.data.encode() if spec.data is not None else None,
                extensions={OPTIONS_KEY: options, OUTCOME_KEY: outcome},
            )
            record.url = _scrub(shown_url(request.url), secrets)
            try:
                response = await client.send(request, stream=True)
                try:
                    body, truncated, size = await self._read_capped(response)
                finally:
                    await response.aclose()
            except (httpx.HTTPError, AgenticError) as exc:
                record.error = _scrub(self._reason(exc), secrets)
                await self._finish(record, outcome, started)
                raise self._as_service_error(exc, method, record) from None
        record.status_code = response.status_code
        record.response_bytes = size
        await self._finish(record, outcome, started)
        text = _scrub(body.decode(response.encoding or "utf-8", errors="replace"), secrets)
        parsed = None
        if not truncated and "json" in response.headers.get("content-type", "") and text:
            try:
                parsed = (
                    await asyncio.to_thread(orjson.loads, text) if len(text) > 65_536 else orjson.loads(text)
                )
            except orjson.JSONDecodeError:
                parsed = None
        return HttpResult(
            request_id=record_id,
            method=method,
            url=record.url,
            status_code=response.status_code,
            headers={key: _scrub(value, secrets) for key, value in response.headers.items()},
            content=text,
            json_body=parsed,
            truncated=truncated,
            size_bytes=size,
            response_time_ms=record.duration_ms,
            attempts=outcome.attempts,
            retry_count=max(0, outcome.attempts - 1),
            rate_limited=outcome.rate_limited,
            rate_limit_info=self._rate_limit_info(response.headers),
            created_at=created_at,
        )

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool, int]:
        limit = self._settings.http_max_response_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            room = limit - size
            if len(chunk) > room:
                chunks.append(chunk[:room])
                return b"".join(chunks), True, limit
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False, size

    @staticmethod
    def _rate_limit_info(headers: httpx.Headers) -> RateLimitInfo | None:
        limit = _header(headers, "x-ratelimit-limit", "ratelimit-limit", "x-rate-limit-limit")
        remaining = rate_limit_remaining(headers)
        reset = rate_limit_reset_seconds(headers)
        if limit is None and remaining is None and reset is None:
            return None
        try:
            limit_value = int(float(limit)) if limit is not None else None
        except ValueError:
            limit_value = None
        reset_time = datetime.fromtimestamp(time.time() + reset, UTC) if reset is not None else None
        return RateLimitInfo(limit=limit_value, remaining=remaining, reset_time=reset_time)

    @staticmethod
    def _reason(exc: BaseException) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out ({type(exc).__name__})"
        return str(exc) or type(exc).__name__

    @staticmethod
    def _as_service_error(exc: Exception, method: str, record: HttpRequestRow) -> Exception:
        if isinstance(exc, DestinationDenied | CircuitOpen | HostRateLimited | InvalidInput | FieldError):
            return exc
        attempts = record.attempts
        return DependencyDown(
            f"{method} {record.url} failed after {attempts} attempt{'s' * (attempts != 1)}: {record.error} "
            f"(request {record.id})"
        )

    async def _finish(self, record: HttpRequestRow, outcome: Outcome, started: float) -> None:
        record.attempts = outcome.attempts
        record.rate_limited = outcome.rate_limited
        record.duration_ms = round((time.monotonic() - started) * 1000, 3)
        async with self._sessions.begin() as session:
            session.add(record)
        log.info(
            "Outbound %s %s -> %s (%d attempts, %.0f ms)%s",
            record.method,
            record.url,
            record.status_code if record.status_code is not None else "no answer",
            record.attempts,
            record.duration_ms,
            f": {record.error}" if record.error else "",
        )

    # -- records, metrics, health --

    async def get(self, request_id: str) -> HttpRecord:
        async with self._sessions() as session:
            row = await session.get(HttpRequestRow, request_id)
        if row is None:
            raise NotFound(f"No outbound request {request_id}")
        return HttpRecord(
            request_id=row.id,
            kind=row.kind,
            method=row.method,
            url=row.url,
            host=row.host,
            status_code=row.status_code,
            attempts=row.attempts,
            retry_count=max(0, row.attempts - 1),
            duration_ms=row.duration_ms,
            response_bytes=row.response_bytes,
            rate_limited=row.rate_limited,
            error=row.error,
            destination=row.destination,
            sha256=row.sha256,
            requested_by=row.requested_by,
            created_at=row.created_at,
        )

    async def metrics(self) -> HttpMetrics:
        stats = self._stats
        ordered = sorted(stats.latencies_ms)
        async with self._sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(HttpRequestRow)) or 0
        hosts = [
            HostMetrics(
                host=key,
                state=host.breaker.state,
                consecutive_failures=host.breaker.consecutive_failures,
                retry_after_s=round(host.breaker.retry_after(), 3),
                opened_count=host.breaker.opened_count,
                requests=host.requests,
                failures=host.failures,
                rate_limited=host.rate_limited,
            )
            for key, host in sorted(self._hosts.items())
        ]
        return HttpMetrics(
            since=self._since,
            total_requests=stats.total,
            successful_requests=stats.successful,
            failed_requests=stats.failed,
            success_rate=round(stats.successful / stats.total, 4) if stats.total else 0.0,
            total_retries=stats.retries,
            rate_limited_requests=stats.rate_limited,
            throttled_requests=stats.throttled,
            average_response_time_ms=round(sum(ordered) / len(ordered), 3) if ordered else 0.0,
            p50_response_time_ms=_percentile(ordered, 0.5),
            p95_response_time_ms=_percentile(ordered, 0.95),
            p99_response_time_ms=_percentile(ordered, 0.99),
            circuit_breakers={item.host: item.state for item in hosts},
            hosts=hosts,
            stored_requests=stored,
        )

    def health(self) -> HttpHealth:
        open_circuits = sorted(key for key, host in self._hosts.items() if host.breaker.state != "closed")
        return HttpHealth(
            status="degraded" if open_circuits else "healthy",
            detail=(
                f"Circuit breaker open for {', '.join(open_circuits)}"
                if open_circuits
                else "Outbound HTTP client ready"
            ),
            open_circuits=open_circuits,
            hosts_tracked=len(self._hosts),
            total_requests=self._stats.total,
        )

    # -- /api/v1/http/stream-download --

    def _destination(self, relative: str) -> tuple[Path, Path]:
        """(the target file, the downloads root) for a path relative to downloads/; runs in a thread.

        Absolute paths, ``..`` and symlinks leading out of the folder are refused (InvalidInput)."""
        if not relative.strip() or "\x00" in relative:
            raise InvalidInput("destination_path is empty")
        pure = PurePath(relative)
        if pure.is_absolute() or relative.startswith(("/", "\\")) or pure.drive:
            raise InvalidInput(
                f"destination_path must be relative to the downloads folder ({self.downloads_dir}), "
                f"not absolute: {relative}"
            )
        if ".." in pure.parts or ".." in Path(relative).parts:
            raise InvalidInput(f"destination_path may not leave the downloads folder (..): {relative}")
        self.downloads_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        root = self.downloads_dir.resolve()
        target = (root / pure).resolve()
        if target == root or not target.is_relative_to(root) or target.parts[len(root.parts)] == INCOMING:
            raise InvalidInput(f"destination_path leads outside the downloads folder: {relative}")
        if target.is_dir():
            raise InvalidInput(f"destination_path is a folder: {relative}")
        return target, root

    async def download(
        self,
        url_text: str,
        destination_path: str,
        *,
        headers: dict[str, str] | None = None,
        agent_id: str | None = None,
        read_timeout: float | None = None,
        requested_by: str | None = None,
    ) -> DownloadResult:
        """Stream ``url`` into ``downloads/<destination_path>`` with progress events on the bus.

        The file appears only when complete (written aside, then renamed); a failure leaves nothing."""
        url = self._url(url_text)
        target, root = await asyncio.to_thread(self._destination, destination_path)
        relative = target.relative_to(root).as_posix()
        download_id = new_id()
        resolved_headers, secrets = await self._resolve_credentials(
            dict(headers or {}), agent_id, download_id
        )
        limit = self._settings.http_download_max_bytes
        outcome = Outcome()
        started = time.monotonic()
        record = HttpRequestRow(
            id=download_id,
            kind="download",
            method="GET",
            url=_scrub(shown_url(url), secrets),
            host=host_key(url),
            destination=relative,
            requested_by=requested_by,
            created_at=utcnow(),
        )
        incoming = root / INCOMING
        temp: str | None = None
        done = 0
        total: int | None = None

        def progress(**extra: Any) -> None:
            self._bus.publish(
                DownloadProgressed(
                    download_id=download_id,
                    url=record.url,
                    destination=relative,
                    bytes_done=done,
                    total_bytes=total,
                    **extra,
                )
            )

        try:
            async with self.client(timeout=read_timeout) as client:
                request = client.build_request(
                    "GET", url, headers=resolved_headers, extensions={OUTCOME_KEY: outcome}
                )
                response = await client.send(request, stream=True)
                try:
                    record.status_code = response.status_code
                    if response.status_code >= 400:
                        raise InvalidInput(
                            f"{record.url} answered {response.status_code} {response.reason_phrase}; "
                            "nothing was written"
                        )
                    length = response.headers.get("content-length")
                    total = int(length) if length and length.isdigit() else None
                    if total is not None and total > limit:
                        raise InvalidInput(
                            f"The file is {total} bytes, more than the download limit of {limit} bytes "
                            "(http_download_max_bytes); nothing was written"
                        )
                    await asyncio.to_thread(incoming.mkdir, mode=0o700, exist_ok=True)
                    fd, temp = await asyncio.to_thread(tempfile.mkstemp, dir=incoming, suffix=".part")
                    sink = os.fdopen(fd, "wb")
                    hasher = hashlib.sha256()
                    step = max(DOWNLOAD_CHUNK, (total or 0) // 50)
                    published_at, published_bytes = time.monotonic(), 0
                    progress()
                    try:
                        async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                            done += len(chunk)
                            if done > limit:
                                raise InvalidInput(
                                    f"The file is larger than the download limit of {limit} bytes "
                                    "(http_download_max_bytes); nothing was written"
                                )
                            await asyncio.to_thread(_write, sink, hasher, chunk)
                            now = time.monotonic()
                            if done - published_bytes >= step or now - published_at >= 0.5:
                                published_at, published_bytes = now, done
                                progress()
                    finally:
                        await asyncio.to_thread(sink.close)
                finally:
                    await response.aclose()
            await asyncio.to_thread(_place, temp, target)
            temp = None
        except BaseException as exc:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)  # one small syscall, also when cancelled
            reason = _scrub(self._reason(exc), secrets) if isinstance(exc, Exception) else "cancelled"
            record.error = reason
            record.response_bytes = done
            progress(done=True, ok=False, error=reason)
            if isinstance(exc, Exception):
                await self._finish(record, outcome, started)
            if isinstance(exc, httpx.HTTPError | AgenticError):
                raise self._as_service_error(exc, "GET", record) from None
            raise
        digest = hasher.hexdigest()
        record.response_bytes = done
        record.sha256 = digest
        await self._finish(record, outcome, started)
        progress(done=True, ok=True, sha256=digest)
        return DownloadResult(
            download_id=download_id,
            url=record.url,
            destination_path=relative,
            path=str(target),
            bytes=done,
            sha256=digest,
            content_type=response.headers.get("content-type"),
            duration_ms=record.duration_ms,
            attempts=outcome.attempts,
        )


def _write(sink: Any, hasher: Any, chunk: bytes) -> None:
    sink.write(chunk)
    hasher.update(chunk)


def _place(temp: str | None, target: Path) -> None:
    assert temp is not None
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(temp, 0o600)
    os.replace(temp, target)
