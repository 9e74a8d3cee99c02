"""The router: every model call of the app goes through it, to one of several Ollama hosts.

It offers the gateway's methods, so callers do not know how many hosts there are. For a call on a
model it picks, among the hosts that have the model (and serve that kind of request):

1. hosts whose latest probe answered and that list the model, healthy before degraded;
   else hosts not probed yet or down (the call itself tells whether they are back);
   else reachable hosts that do not list it (their own "not installed" answer is the error);
2. a host with the model loaded in memory (``/api/ps``) before one that must load it;
3. the fewest calls in flight relative to its ``max_concurrent_requests`` (divided by its weight);
4. the lowest recent latency (a moving average of its calls).

A host whose circuit breaker is open is skipped until its cool-down ends; the next call (or the
next probe) is the half-open trial. A host that refuses or fails before the first token is
excluded and the call goes to the next one, transparently; a failure after the first token ends
the stream with ``DependencyDown`` (callers turn that into an error event). When every eligible
host is at its limit the call waits in a bounded queue; a full queue, or a wait past the limit,
is ``RateLimited`` (429 with Retry-After).

The decision itself is plain Python over in-memory state, with no await: it is cheap enough
(p99 well under 1 ms with 5 hosts and 50 models, see ``benchmarks/routing.py``) to run per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.bus import utcnow
from server.events import HostStateChanged, ModelCallFinished, OllamaStatusChanged, RoutingDecision
from server.services.breaker import CircuitBreaker
from server.services.errors import (
    AgenticError,
    Conflict,
    DependencyDown,
    FieldError,
    NotFound,
    RateLimited,
)
from server.services.llm.gateway import (
    NS,
    REGISTERED_HINT,
    SETTINGS_HINT,
    Chunk,
    Embeddings,
    OllamaGateway,
    OllamaStatus,
)
from server.services.llm.hosts import (
    DEFAULT_HOST_ID,
    HOST_ID,
    Host,
    HostSpec,
    HostStore,
    normalize_url,
    probe_host,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    from server.bus import EventBus
    from server.services.host_directory import HostView
    from server.services.llm.gateway import InstalledModel, ModelDetails, PullProgress

log = logging.getLogger(__name__)

DECISION_SAMPLE = 10  # publish every 10th unremarkable decision (retries, misses and switches always)
DECISION_WINDOW = 2048  # decision timings kept for the stats


def canonical(model: str) -> str:
    """Ollama's canonical name: a missing tag means ``:latest``."""
    return model if ":" in model else f"{model}:latest"


@dataclass(frozen=True, slots=True)
class Choice:
    """What ``decide`` found: a host, or why none (``busy``: every eligible host is at its limit)."""

    host: Host | None
    reason: str
    candidates: int
    busy: bool = False
    error: AgenticError | None = None


class Router:
    """Several Ollama hosts behind the gateway's interface; implements ``HostDirectory``."""

    def __init__(
        self,
        bus: EventBus,
        *,
        default_url: str,
        timeout: float,
        generate_timeout: float = 600.0,
        queue_size: int = 100,
        queue_timeout: float = 30.0,
        breaker_threshold: int = 5,
        breaker_reset: float = 30.0,
        default_max_concurrent: int = 4,
        store: HostStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._clock = clock  # the breakers' (tests move it instead of waiting)
        self._timeout = timeout
        self._generate_timeout = generate_timeout
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self._breaker_threshold = breaker_threshold
        self._breaker_reset = breaker_reset
        self._store = store
        self._hosts: dict[str, Host] = {}
        self._order: list[Host] = []
        self._retired: list[Host] = []  # removed while calls ran on them: closed at close()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._status = OllamaStatus(host=default_url.rstrip("/"), reachable=False)
        self._last_choice: dict[str | None, str] = {}
        self._decisions = 0
        self._decision_ns: deque[int] = deque(maxlen=DECISION_WINDOW)
        self.counters = {
            "requests": 0,
            "succeeded": 0,
            "failed": 0,
            "failovers": 0,
            "queued": 0,
            "rejected": 0,
        }
        self._add(
            HostSpec(
                id=DEFAULT_HOST_ID,
                url=default_url.rstrip("/"),
                max_concurrent_requests=default_max_concurrent,
                builtin=True,
            )
        )

    # -- hosts --

    def _add(self, spec: HostSpec) -> Host:
        host_id = spec.id

        def on_status(status: OllamaStatus) -> None:
            self._gateway_status(host_id, status)

        gateway = OllamaGateway(
            spec.url,
            self._bus,
            timeout=self._timeout,
            generate_timeout=self._generate_timeout,
            on_status=on_status,
            hint=SETTINGS_HINT if spec.builtin else REGISTERED_HINT,
        )
        holder: list[Host] = []
        breaker = CircuitBreaker(
            failure_threshold=self._breaker_threshold,
            reset_timeout=self._breaker_reset,
            clock=self._clock,
            on_change=lambda _old, _new: self._reassess(holder[0]),
        )
        host = Host(spec=spec, gateway=gateway, breaker=breaker)
        holder.append(host)
        self._hosts[host_id] = host
        self._order.append(host)
        return host

    async def load(self) -> None:
        """Add the hosts registered in earlier runs."""
        if self._store is None:
            return
        for spec in await self._store.load():
            if spec.id not in self._hosts:
                self._add(spec)

    def views(self) -> list[HostView]:
        """Every host as its latest probe and calls found it, the settings' host first."""
        return [host.view() for host in self._order]

    def specs(self) -> list[HostSpec]:
        """How each host was registered."""
        return [host.spec for host in self._order]

    def gateway(self, host_id: str) -> OllamaGateway:
        """The client of one host (``KeyError`` for an unknown id)."""
        return self._hosts[host_id].gateway

    def view(self, host_id: str) -> HostView:
        return self._get(host_id).view()

    def _get(self, host_id: str) -> Host:
        try:
            return self._hosts[host_id]
        except KeyError:
            known = ", ".join(self._hosts)
            raise NotFound(f"No host with the id '{host_id}' (known: {known})") from None

    async def add_host(
        self,
        host_id: str,
        url: str,
        *,
        supported_request_types: Sequence[str] = (),
        max_concurrent_requests: int = 4,
        weight: float = 1.0,
        agentic_url: str | None = None,
        agentic_token: str | None = None,
    ) -> HostView:
        """Register a host, keep it for the next start, probe it once and say what was found."""
        if not HOST_ID.match(host_id):
            raise FieldError(
                ("id",), "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        url = normalize_url(url)
        agentic = normalize_url(agentic_url, "agentic_url") if agentic_url else None
        if host_id in self._hosts:
            raise Conflict(f"A host with the id '{host_id}' is already registered")
        clash = next((host for host in self._order if host.spec.url == url), None)
        if clash is not None:
            raise Conflict(f"{url} is already registered as the host '{clash.id}'")
        if max_concurrent_requests < 1:
            raise FieldError(("max_concurrent_requests",), "Must be at least 1")
        if weight <= 0:
            raise FieldError(("weight",), "Must be greater than 0")
        spec = HostSpec(
            id=host_id,
            url=url,
            supported_request_types=tuple(dict.fromkeys(supported_request_types)),
            max_concurrent_requests=max_concurrent_requests,
            weight=weight,
            agentic_url=agentic,
            has_agentic_token=bool(agentic_token),
            created_at=utcnow(),
        )
        if self._store is not None:
            spec = await self._store.add(spec, agentic_token)
        if spec.id in self._hosts:  # added meanwhile by a concurrent call
            raise Conflict(f"A host with the id '{host_id}' is already registered")
        host = self._add(spec)
        self._publish_state(host, None)
        await self._probe_one(host)
        self._wake_all()
        return host.view()

    async def remove_host(self, host_id: str) -> HostSpec:
        """Forget a registered host; calls running on it finish. The settings' host stays."""
        host = self._get(host_id)
        if host.spec.builtin:
            raise Conflict(
                f"'{host_id}' is the Ollama host from the settings: change OLLAMA_HOST (or ollama_host in "
                "the config file) instead of removing it"
            )
        if self._store is not None:
            await self._store.remove(host_id)
        del self._hosts[host_id]
        self._order.remove(host)
        if host.in_flight:
            self._retired.append(host)
        else:
            await host.gateway.close()
        self._bus.publish(
            HostStateChanged(
                host_id=host.id,
                url=host.spec.url,
                state=host.state,
                previous=host.state,
                reason="removed",
                removed=True,
            )
        )
        self._refresh_status()
        self._wake_all()
        return host.spec

    async def agentic_server(self, host_id: str) -> tuple[str, str | None] | None:
        """URL and token of the agentic-server on a host's box (for its CPU/GPU graphs), if any."""
        host = self._get(host_id)
        if host.spec.agentic_url is None:
            return None
        token = await self._store.agentic_token(host_id) if self._store is not None else None
        return host.spec.agentic_url, token

    async def test_host(self, host_id: str) -> HostView:
        """Probe one host now (version, models, loaded models) and return what it found."""
        host = self._get(host_id)
        await self._probe_one(host)
        return host.view()

    # -- probing and state --

    async def _probe_one(self, host: Host) -> None:
        breaker = host.breaker
        trial = breaker.state == "half_open" or (breaker.state == "open" and breaker.retry_after() == 0)
        if trial and breaker.state == "open":
            breaker.allow()  # the probe is the half-open trial
        await probe_host(host)
        if trial or breaker.state == "half_open":
            if host.reachable:
                breaker.record_success()
            else:
                breaker.record_failure()
        self._reassess(host)

    async def probe(self) -> OllamaStatus:
        """Probe every host now; the aggregate status (reachable when any host is)."""
        await asyncio.gather(*(self._probe_one(host) for host in list(self._order)))
        return self._refresh_status(force=True)

    async def watch(self, interval: float) -> None:
        """Probe every host again every ``interval`` seconds, forever."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.probe()
            except Exception:  # a bug in one probe must not end the probing
                log.exception("Probing the Ollama hosts failed")

    def _gateway_status(self, host_id: str, status: OllamaStatus) -> None:
        """A gateway learnt something from a call (reachable or not); keep the host's state current."""
        host = self._hosts.get(host_id)
        if host is None:
            return
        if host.reachable != status.reachable or not status.reachable:
            host.reachable, host.detail = status.reachable, status.detail
            self._reassess(host)
            self._refresh_status()

    def _reassess(self, host: Host) -> None:
        state, reason = host.assess()
        if (state, reason) == (host.state, host.reason):
            return
        previous = host.state if host.probed or host.requests else None
        host.state, host.reason = state, reason
        if previous != state:
            log.log(
                logging.INFO if state == "healthy" else logging.WARNING,
                "Host %s: %s (%s)",
                host.id,
                state,
                reason,
            )
        self._publish_state(host, previous)
        if state != "down":
            self._wake_all()

    def _publish_state(self, host: Host, previous: str | None) -> None:
        self._bus.publish(
            HostStateChanged(
                host_id=host.id, url=host.spec.url, state=host.state, previous=previous, reason=host.reason
            )
        )

    @property
    def status(self) -> OllamaStatus:
        """The aggregate of the hosts' latest contacts."""
        return self._status

    @property
    def host(self) -> str:
        """The settings' host URL (what single-host code shows)."""
        return self._hosts[DEFAULT_HOST_ID].spec.url

    def _refresh_status(self, *, force: bool = False) -> OllamaStatus:
        hosts = self._order
        up = [host for host in hosts if host.reachable]
        models = len(frozenset().union(*(host.models for host in up))) if up else 0
        if len(hosts) == 1:
            detail = hosts[0].detail
        elif len(up) == len(hosts):
            detail = f"{len(hosts)} hosts reachable, {models} models installed"
        else:
            down = "; ".join(f"{host.id}: {host.detail}" for host in hosts if not host.reachable)
            detail = f"{len(up)} of {len(hosts)} hosts reachable; {down}"
        previous = self._status
        status = OllamaStatus(
            host=self.host, reachable=bool(up), models_available=models, detail=detail, checked_at=utcnow()
        )
        if not force and (status.reachable, status.models_available, status.detail) == (
            previous.reachable,
            previous.models_available,
            previous.detail,
        ):
            return previous
        self._status = status
        if (previous.reachable, previous.models_available, previous.checked_at is None) != (
            status.reachable,
            models,
            False,
        ):
            log.log(logging.INFO if status.reachable else logging.WARNING, "Ollama: %s", detail)
            self._bus.publish(
                OllamaStatusChanged(
                    host=status.host, reachable=status.reachable, models_available=models, detail=detail
                )
            )
        return status

    async def close(self) -> None:
        """Release every host's connections."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        for host in [*self._order, *self._retired]:
            await host.gateway.close()

    # -- the decision --

    def decide(
        self, model: str | None, purpose: str | None = None, exclude: frozenset[str] | set[str] = frozenset()
    ) -> Choice:
        """Choose a host for a call on ``model``; plain Python over in-memory state, no await."""
        wanted = canonical(model) if model else None
        groups: tuple[list[Host], list[Host], list[Host]] = ([], [], [])
        blocked = 0
        for host in self._order:
            if host.spec.id in exclude or not host.spec.serves(purpose):
                continue
            breaker = host.breaker
            if breaker.state == "half_open" or (breaker.state == "open" and breaker.retry_after() > 0):
                blocked += 1
                continue
            if not host.reachable or not host.probed:
                groups[1].append(host)
            elif wanted is None or wanted in host.models:
                groups[0].append(host)
            else:
                groups[2].append(host)
        group = groups[0] or groups[1] or groups[2]
        if not group:
            return Choice(
                None, "no host can take the call", 0, error=self._no_host(model, purpose, blocked, exclude)
            )
        best: Host | None = None
        best_key: tuple[Any, ...] = ()
        for host in group:
            limit = host.spec.max_concurrent_requests
            if host.in_flight >= limit:
                continue
            key = (
                host.state != "healthy",
                wanted not in host.loaded,
                host.in_flight / (limit * host.spec.weight),
                (host.ewma_s or 0.0) / host.spec.weight,
            )
            if best is None or key < best_key:
                best, best_key = host, key
        if best is None:
            return Choice(
                None, f"all {len(group)} eligible host(s) are at their limit", len(group), busy=True
            )
        return Choice(best, self._why(best, wanted, group is groups[0], len(group)), len(group))

    @staticmethod
    def _why(host: Host, wanted: str | None, listed: bool, candidates: int) -> str:
        parts = []
        if wanted is not None:
            if wanted in host.loaded:
                parts.append(f"{wanted} is loaded there")
            elif listed:
                parts.append(f"{wanted} is installed there (not loaded)")
            else:
                parts.append(f"no reachable host lists {wanted}: trying '{host.id}' ({host.state})")
        parts.append(f"{host.in_flight}/{host.spec.max_concurrent_requests} calls in flight")
        if host.ewma_s is not None:
            parts.append(f"recent latency {host.ewma_s * 1000:.0f} ms")
        parts.append(f"best of {candidates} candidate(s)")
        return ", ".join(parts)

    def _no_host(
        self, model: str | None, purpose: str | None, blocked: int, exclude: frozenset[str] | set[str]
    ) -> AgenticError:
        if not any(host.spec.serves(purpose) for host in self._order):
            return DependencyDown(f"No Ollama host takes '{purpose}' requests: register one that does")
        if blocked:
            wait = min(
                (host.breaker.retry_after() for host in self._order if host.breaker.state == "open"),
                default=0.0,
            )
            return DependencyDown(
                f"Every Ollama host that could serve {model or 'the call'} has failed repeatedly (circuit "
                f"breaker open); the next try is in {wait:.0f} s. "
                + "; ".join(f"{host.id}: {host.reason}" for host in self._order)
            )
        return DependencyDown(
            f"No Ollama host could serve {model or 'the call'}: "
            + "; ".join(f"{host.id}: {host.reason}" for host in self._order)
        )

    def explain(self, model: str | None, purpose: str | None = None) -> dict[str, Any]:
        """Which host would serve a call now, and why (nothing is sent or reserved)."""
        choice = self.decide(model, purpose)
        return {
            "host_id": choice.host.id if choice.host else None,
            "url": choice.host.spec.url if choice.host else None,
            "reason": choice.reason if choice.error is None else str(choice.error),
            "candidates": choice.candidates,
            "would_queue": choice.busy,
            "queue_length": len(self._waiters),
        }

    # -- admission: in-flight slots and the wait queue --

    async def _acquire(self, model: str | None, purpose: str, exclude: set[str], attempt: int) -> Host:
        queued_at: float | None = None
        while True:
            started = time.perf_counter_ns()
            choice = self.decide(model, purpose, exclude)
            self._decision_ns.append(time.perf_counter_ns() - started)
            host = choice.host
            if host is not None:
                if not host.breaker.allow():  # cannot happen for a host decide() chose; be safe
                    exclude.add(host.id)
                    continue
                host.in_flight += 1
                queued = 0.0 if queued_at is None else time.monotonic() - queued_at
                self._announce(model, purpose, host.id, choice, attempt, queued)
                return host
            if not choice.busy:
                self._announce(model, purpose, None, choice, attempt, 0.0)
                assert choice.error is not None
                raise choice.error
            now = time.monotonic()
            if queued_at is None:
                if len(self._waiters) >= self.queue_size:
                    self.counters["rejected"] += 1
                    raise RateLimited(
                        f"Every Ollama host is busy and {len(self._waiters)} calls already wait (the queue "
                        "holds router_queue_size): try again shortly",
                        retry_after=self._retry_after(),
                    )
                queued_at = now
                self.counters["queued"] += 1
            remaining = self.queue_timeout - (now - queued_at)
            if remaining <= 0:
                self.counters["rejected"] += 1
                raise RateLimited(
                    f"Every Ollama host stayed busy for {self.queue_timeout:g} s (router_queue_timeout): "
                    "try again shortly",
                    retry_after=self._retry_after(),
                )
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                continue  # the loop raises RateLimited (or finds a slot freed just now)
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # it was given a slot it will not use: pass it on
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _retry_after(self) -> float:
        """A fair guess at when a slot frees: the recent latency of the hosts, at least 1 s."""
        latencies = [host.ewma_s for host in self._order if host.ewma_s is not None]
        return max(1.0, min(latencies, default=1.0))

    def _release(self, host: Host) -> None:
        host.in_flight -= 1
        self._wake_one()
        if host in self._retired and not host.in_flight:
            self._retired.remove(host)
            asyncio.get_running_loop().create_task(host.gateway.close())

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _announce(
        self,
        model: str | None,
        purpose: str,
        host_id: str | None,
        choice: Choice,
        attempt: int,
        queued: float,
    ) -> None:
        """Publish the decision when it says something new; else one in ``DECISION_SAMPLE``."""
        self._decisions += 1
        key = model
        switched = self._last_choice.get(key) != host_id
        self._last_choice[key] = host_id or ""
        if not (switched or attempt > 1 or host_id is None or self._decisions % DECISION_SAMPLE == 0):
            return
        self._bus.publish(
            RoutingDecision(
                model=model,
                purpose=purpose,
                host_id=host_id,
                reason=choice.reason if choice.error is None else str(choice.error),
                candidates=choice.candidates,
                attempt=attempt,
                queued_s=round(queued, 4),
            )
        )

    # -- outcomes --

    def _failed(self, host: Host, exc: AgenticError) -> None:
        host.failures += 1
        host.last_error = str(exc)
        host.breaker.record_failure()
        self._reassess(host)

    def _succeeded(self, host: Host, seconds: float) -> None:
        host.observe_latency(seconds)
        if not host.reachable:  # it was marked down, yet it served a call: it is back
            host.reachable, host.detail = True, "answered a call since its last probe"
            self._refresh_status()
        host.breaker.record_success()
        self._reassess(host)

    def _finished(
        self,
        host: Host,
        kind: str,
        model: str,
        purpose: str,
        started: float,
        first_token_s: float | None,
        final: Chunk | None,
        error: str | None,
        prompt_tokens: int = 0,
    ) -> None:
        host.requests += 1
        self.counters["requests"] += 1
        self.counters["succeeded" if error is None else "failed"] += 1
        completion = final.completion_tokens if final else 0
        self._bus.publish(
            ModelCallFinished(
                model=(final.model if final and final.model else model),
                host_id=host.id,
                kind=kind,
                purpose=purpose,
                ok=error is None,
                error=error,
                first_token_s=first_token_s,
                duration_s=time.monotonic() - started,
                prompt_tokens=final.prompt_tokens if final else prompt_tokens,
                completion_tokens=completion,
                tokens_per_second=completion / (final.eval_ns / NS) if final and final.eval_ns else 0.0,
            )
        )

    async def _routed_stream(
        self,
        kind: str,
        model: str,
        purpose: str,
        call: Callable[[OllamaGateway], AsyncIterator[Chunk]],
    ) -> AsyncIterator[Chunk]:
        exclude: set[str] = set()
        attempt = 0
        last: AgenticError | None = None
        while True:
            attempt += 1
            try:
                host = await self._acquire(model, purpose, exclude, attempt)
            except DependencyDown:
                if last is not None:
                    raise last from None  # what the hosts said beats "no host left"
                raise
            started = time.monotonic()
            first: float | None = None
            final: Chunk | None = None
            error: str | None = "stopped by the caller"
            retry = False
            try:
                stream = call(host.gateway)
                async with contextlib.aclosing(stream):  # type: ignore[type-var]
                    async for chunk in stream:
                        if first is None:
                            first = time.monotonic() - started
                        if chunk.done:
                            final = chunk
                        yield chunk
                error = None
                self._succeeded(host, time.monotonic() - started)
            except DependencyDown as exc:
                error = str(exc)
                self._failed(host, exc)
                if first is not None:
                    raise DependencyDown(
                        f"The reply from host '{host.id}' broke off after it began: {exc}"
                    ) from exc
                exclude.add(host.id)
                host.retries += 1
                self.counters["failovers"] += 1
                last, retry = exc, True
            except NotFound as exc:
                # Its list of models was stale: the next host that has the model may serve it.
                error = str(exc)
                host.models = host.models - {canonical(model)}
                host.breaker.record_success()  # it answered
                if first is not None:
                    raise
                exclude.add(host.id)
                last, retry = (last if isinstance(last, DependencyDown) else exc), True
            except AgenticError as exc:
                error = str(exc)
                host.breaker.record_success()  # it answered: the request was at fault
                raise
            finally:
                self._release(host)
                self._finished(host, kind, model, purpose, started, first, final, error)
            if not retry:
                return

    # -- the gateway's interface --

    async def list_models(self) -> list[InstalledModel]:
        """The models installed on any reachable host, each name once (newest copy first host)."""
        hosts = list(self._order)
        results = await asyncio.gather(
            *(host.gateway.list_models() for host in hosts), return_exceptions=True
        )
        merged: dict[str, InstalledModel] = {}
        errors: list[BaseException] = []
        for host, result in zip(hosts, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, AgenticError):
                    raise result
                errors.append(result)
                continue
            host.models = frozenset(model.name for model in result)
            for model in result:
                merged.setdefault(model.name, model)
        if errors and len(errors) == len(hosts):
            raise errors[0]
        self._refresh_status()
        return list(merged.values())

    async def model_names(self) -> list[str]:
        """Names of the models installed on any reachable host."""
        return [model.name for model in await self.list_models()]

    def _holders(self, name: str) -> list[Host]:
        """Hosts to ask about a model: those listing it first, then the others."""
        wanted = canonical(name)
        return sorted(self._order, key=lambda host: (wanted not in host.models, not host.reachable))

    async def show(self, name: str) -> ModelDetails:
        """Capabilities and parameters of one model, from the first host that has it."""
        first_error: AgenticError | None = None
        for host in self._holders(name):
            try:
                return await host.gateway.show(name)
            except (NotFound, DependencyDown) as exc:
                if first_error is None or (
                    isinstance(exc, NotFound) and isinstance(first_error, DependencyDown)
                ):
                    first_error = exc
        assert first_error is not None
        raise first_error

    async def pull(self, name: str, *, host_id: str | None = None) -> AsyncIterator[PullProgress]:
        """Download ``name`` onto one host (the settings' host unless told), with its progress."""
        host = self._get(host_id or DEFAULT_HOST_ID)
        stream = host.gateway.pull(name)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for step in stream:
                yield step
        host.models = host.models | {canonical(name)}

    async def delete(self, name: str, *, host_id: str | None = None) -> None:
        """Remove a model from one host, or from every reachable host that has it."""
        wanted = canonical(name)
        if host_id is not None:
            targets = [self._get(host_id)]
        else:
            targets = [host for host in self._order if host.reachable and wanted in host.models]
            targets = targets or [self._hosts[DEFAULT_HOST_ID]]
        for host in targets:
            await host.gateway.delete(name)
            host.models = host.models - {wanted}
            host.loaded.pop(wanted, None)

    async def generate_stream(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        format: str | dict[str, Any] | None = None,
        purpose: str = "generate",
    ) -> AsyncIterator[Chunk]:
        """Stream a completion from the best host; retried elsewhere if it fails before the first token."""
        stream = self._routed_stream(
            "generate",
            model,
            purpose,
            lambda gateway: gateway.generate_stream(
                model, prompt, system=system, options=options, format=format
            ),
        )
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for chunk in stream:
                yield chunk

    async def chat_stream(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        format: str | dict[str, Any] | None = None,
        purpose: str = "chat",
    ) -> AsyncIterator[Chunk]:
        """Stream the assistant's next message from the best host (retried as ``generate_stream``)."""
        stream = self._routed_stream(
            "chat",
            model,
            purpose,
            lambda gateway: gateway.chat_stream(model, messages, options=options, format=format),
        )
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for chunk in stream:
                yield chunk

    async def embed(
        self, model: str, inputs: Sequence[str], *, purpose: str = "embedding"
    ) -> list[list[float]]:
        """One embedding per input text."""
        return (await self.embeddings(model, inputs, purpose=purpose)).vectors

    async def embeddings(
        self, model: str, inputs: Sequence[str], *, purpose: str = "embedding"
    ) -> Embeddings:
        """One embedding per input text, from the best host (retried elsewhere on a host failure)."""
        result: list[Embeddings] = []

        async def one(gateway: OllamaGateway) -> AsyncIterator[Chunk]:
            result.append(await gateway.embeddings(model, inputs))
            yield Chunk(text="", done=True, model=result[-1].model, prompt_tokens=result[-1].prompt_tokens)

        stream = self._routed_stream("embed", model, purpose, one)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for _ in stream:
                pass
        return result[-1]

    # -- numbers for the API and the window --

    def decision_percentiles(self) -> dict[str, float]:
        """p50 and p99 of the recent routing decisions, in microseconds."""
        timings = sorted(self._decision_ns)
        if not timings:
            return {"p50_us": 0.0, "p99_us": 0.0, "samples": 0}
        pick = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))] / 1000  # noqa: E731
        return {"p50_us": round(pick(0.5), 1), "p99_us": round(pick(0.99), 1), "samples": len(timings)}

    @property
    def queue_length(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    def stats(self) -> dict[str, Any]:
        """Counters, the queue, the decisions' cost and each host's share of the calls."""
        total = self.counters["requests"]
        hosts = []
        for host in self._order:
            view = host.view()
            hosts.append(
                {
                    "id": host.id,
                    "url": host.spec.url,
                    "state": host.state,
                    "reason": host.reason,
                    "breaker": host.breaker.state,
                    "breaker_opened": host.breaker.opened_count,
                    "in_flight": host.in_flight,
                    "max_concurrent_requests": host.spec.max_concurrent_requests,
                    "requests": host.requests,
                    "failures": host.failures,
                    "failovers": host.retries,
                    "share": round(host.requests / total, 4) if total else 0.0,
                    "average_latency_ms": view.latency_ms,
                    "loaded_models": list(view.loaded),
                    "vram_used": view.vram_used,
                }
            )
        return {
            "total_backends": len(self._order),
            "healthy_backends": sum(1 for host in self._order if host.state == "healthy"),
            "total_requests": total,
            "successful_requests": self.counters["succeeded"],
            "failed_requests": self.counters["failed"],
            "failovers": self.counters["failovers"],
            "queued_requests": self.counters["queued"],
            "rejected_requests": self.counters["rejected"],
            "queue": {"length": self.queue_length, "limit": self.queue_size, "timeout_s": self.queue_timeout},
            "decision_latency": self.decision_percentiles(),
            "backends": hosts,
        }

    def health(self) -> dict[str, Any]:
        """``healthy`` when every host is, ``degraded`` while some can serve, else ``unhealthy``."""
        states = [host.state for host in self._order]
        if all(state == "healthy" for state in states):
            overall = "healthy"
        elif any(state != "down" for state in states):
            overall = "degraded"
        else:
            overall = "unhealthy"
        return {
            "status": overall,
            "healthy_backends": states.count("healthy"),
            "degraded_backends": states.count("degraded"),
            "down_backends": states.count("down"),
            "backends": {host.id: {"state": host.state, "reason": host.reason} for host in self._order},
            "timestamp": utcnow(),
        }
