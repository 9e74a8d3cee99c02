"""WebSockets: ``/ws/logs`` (log entries and task updates, filtered, and notifications) and
``/ws/tasks/{task_id}``.

Protocol, as the spec fixes it: ``?token=`` (a login token or the API key; a bad one closes with
1008), ``{"type": "ping"}`` answered by ``{"type": "pong", "timestamp": ...}``, the socket closed
after ``ws_idle_timeout`` (90 s) without a ping, at most 50 sockets per user and 200 in all, and
100 incoming messages per minute per socket (over that: an ``error`` with ``retry_after``).

One hub subscribes to the bus and serializes each event once; every socket has its own bounded
outbox and sender, so a slow client loses its oldest messages (and is told) instead of slowing
anyone else down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from server.api.auth import bearer_token
from server.api.keys import BACKEND
from server.bus import utcnow
from server.events import (
    HostStateChanged,
    IncidentChanged,
    LogRecorded,
    MetricsSampled,
    ResourceAlert,
    RoutingDecision,
    TaskChanged,
    TaskProgressed,
)
from server.services.errors import NotFound, Unauthorized
from server.services.logs import LEVELS, levels_from

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from server.backend import Backend
    from server.bus import Event
    from server.services.auth import Principal
    from server.services.security import Incident
    from server.services.tasks import Task

log = logging.getLogger(__name__)

LIMIT_PER_USER = 50
LIMIT_TOTAL = 200
MESSAGES_PER_MINUTE = 100
OUTBOX_MAX = 20_000
SEND_BATCH = 64  # messages sent before the sender lets the loop breathe
CLOSE_POLICY = 1008  # bad or missing token
CLOSE_TRY_AGAIN = 1013  # connection limit reached
CLOSE_NOT_FOUND = 4404  # unknown task
CLOSE_IDLE = 4408  # no ping within the idle timeout
_CLOSE = object()  # outbox sentinel: close after what was queued before it
# New incidents of these severities become notifications, as in the window's tray (DESIGN.md).
NOTIFY_SEVERITIES = ("high", "critical")

OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def frame(kind: str, **fields: Any) -> bytes:
    """One JSON message."""
    return orjson.dumps({"type": kind, **fields}, option=OPTS)


def now_iso() -> str:
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LogFilters:
    """Which log entries and task updates a ``/ws/logs`` socket wants."""

    agent_id: str | None = None
    task_id: str | None = None
    level: str | None = None

    @classmethod
    def parse(cls, values: dict[str, Any]) -> LogFilters:
        level = values.get("level")
        if level is not None and level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        return cls(
            agent_id=values.get("agent_id") or None, task_id=values.get("task_id") or None, level=level
        )

    def wants(self, agent_id: str | None, task_id: str | None, level: str | None = None) -> bool:
        if self.agent_id is not None and agent_id != self.agent_id:
            return False
        if self.task_id is not None and task_id != self.task_id:
            return False
        return not (self.level is not None and level is not None and level not in levels_from(self.level))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, str | None]:
        return {"agent_id": self.agent_id, "task_id": self.task_id, "level": self.level}


class Client:
    """One open socket: what it wants, its outbox, and its incoming-message budget."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        owner: str,
        filters: LogFilters | None = None,
        task_id: str | None = None,
        metrics: bool = False,
    ) -> None:
        self.ws = ws
        self.owner = owner
        self.filters = filters
        self.task_id = task_id
        self.metrics = metrics
        self.load_balancing = False  # /ws/load-balancing: host state changes and routing decisions
        self.dropped = 0
        self._outbox: deque[bytes | object] = deque()
        self._wake = asyncio.Event()
        self._window_start = time.monotonic()
        self._window_count = 0

    @property
    def closing(self) -> bool:
        """Whether a close is queued."""
        return bool(self._outbox) and self._outbox[-1] is _CLOSE

    def offer(self, message: bytes | object) -> None:
        """Queue a message; when the outbox is full the oldest one goes."""
        if len(self._outbox) >= OUTBOX_MAX:
            self._outbox.popleft()
            self.dropped += 1
        self._outbox.append(message)
        self._wake.set()

    def offer_first(self, message: bytes) -> None:
        """Queue a message ahead of everything queued."""
        self._outbox.appendleft(message)
        self._wake.set()

    def within_rate(self) -> float | None:
        """``None`` when another incoming message is allowed, else seconds until it is."""
        now = time.monotonic()
        if now - self._window_start >= 60:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > MESSAGES_PER_MINUTE:
            return max(1.0, 60 - (now - self._window_start))
        return None

    async def send_loop(self) -> None:
        """Send queued messages in order until the socket closes."""
        reported = 0
        while not self.ws.closed:
            await self._wake.wait()
            self._wake.clear()
            sent = 0
            while self._outbox and not self.ws.closed:
                message = self._outbox.popleft()
                if message is _CLOSE:
                    await self.ws.close()
                    return
                assert isinstance(message, bytes)
                await self.ws.send_frame(message, WSMsgType.TEXT)
                sent += 1
                if sent % SEND_BATCH == 0:
                    await asyncio.sleep(0)
            if self.dropped > reported:
                lost, reported = self.dropped - reported, self.dropped
                await self.ws.send_frame(
                    frame("error", message=f"{lost} messages were dropped: this client reads too slowly"),
                    WSMsgType.TEXT,
                )


class WsHub:
    """Admits sockets within the limits and fans bus events out to them."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._clients: set[Client] = set()
        self._per_owner: Counter[str] = Counter()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    # -- fan-out --

    async def run(self) -> None:
        """Forward bus events to the sockets that want them, serializing each event once."""
        kinds = (
            LogRecorded,
            TaskChanged,
            TaskProgressed,
            MetricsSampled,
            IncidentChanged,
            ResourceAlert,
            HostStateChanged,
            RoutingDecision,
        )
        with self._backend.bus.subscribe(*kinds, maxsize=100_000) as events:
            async for event in events:
                self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        if isinstance(event, LogRecorded):
            self._log_entry(event)
        elif isinstance(event, TaskChanged):
            self._task_changed(event.task)
        elif isinstance(event, MetricsSampled):
            message = None
            for client in self._clients:
                if client.metrics:
                    message = message or frame("metrics", data=event.sample.model_dump(mode="json"))
                    client.offer(message)
        elif isinstance(event, TaskProgressed):
            message = None
            for client in self._clients:
                if client.task_id == event.task_id:
                    message = message or frame(
                        "task_progress",
                        data={
                            "task_id": event.task_id,
                            "progress": event.progress,
                            "message": event.message,
                            "timestamp": now_iso(),
                        },
                    )
                    client.offer(message)
        elif isinstance(event, IncidentChanged):
            incident = event.incident
            if not incident.resolved and incident.severity in NOTIFY_SEVERITIES:
                self._notify(incident_notification(incident))
        elif isinstance(event, ResourceAlert) and event.active:
            self._notify(alert_notification(event))
        elif isinstance(event, HostStateChanged | RoutingDecision):
            self._load_balancing(event)

    def _load_balancing(self, event: HostStateChanged | RoutingDecision) -> None:
        """A host state change or a routing decision to every ``/ws/load-balancing`` socket."""
        message = None
        for client in self._clients:
            if client.load_balancing:
                if message is None:
                    kind = "host_state" if isinstance(event, HostStateChanged) else "routing_decision"
                    data = {name: getattr(event, name) for name in event.__dataclass_fields__}
                    message = frame(kind, data=data)
                client.offer(message)

    def _notify(self, data: dict[str, Any]) -> None:
        """A ``notification`` to every ``/ws/logs`` socket, whatever its log filters."""
        message = None
        for client in self._clients:
            if client.filters is not None:
                message = message or frame("notification", data=data)
                client.offer(message)

    def _log_entry(self, event: LogRecorded) -> None:
        entry = event.entry
        message = None
        for client in self._clients:
            if client.filters is not None and client.filters.wants(
                entry.agent_id, entry.task_id, entry.level
            ):
                message = message or frame("log_entry", data=entry.model_dump(mode="json"))
                client.offer(message)

    def _task_changed(self, task: Task) -> None:
        update = status = complete = None
        for client in self._clients:
            if client.filters is not None and client.filters.wants(task.agent_id, task.id):
                update = update or frame("task_update", data=task_status_data(task))
                client.offer(update)
            elif client.task_id == task.id:
                status = status or frame("task_status", data=task_status_data(task))
                client.offer(status)
                if task.finished:
                    complete = complete or frame("task_complete", data=task_complete_data(task))
                    client.offer(complete)
                    client.offer(_CLOSE)

    # -- connections --

    async def authenticate(self, request: web.Request) -> tuple[Principal | None, dict[str, str]]:
        """The caller from ``?token=`` (or an Authorization header), and the other query values."""
        params = dict(request.query)
        token = params.pop("token", None)
        if token is None:
            # WORKAROUND for nepenth/Agentic-Frontend websocket.ts: with filters set it appends
            # "?token=..." with a second "?", so the token arrives inside the last filter's value.
            for key, value in params.items():
                if "?token=" in value:
                    params[key], token = value.split("?token=", 1)
                    break
        token = token or bearer_token(request)
        if not token:
            return None, params
        try:
            return await self._backend.auth.authenticate(token), params
        except Unauthorized:
            return None, params

    @contextlib.asynccontextmanager
    async def connect(
        self,
        ws: web.WebSocketResponse,
        principal: Principal,
        filters: LogFilters | None = None,
        task_id: str | None = None,
        metrics: bool = False,
    ) -> AsyncIterator[Client | None]:
        """Admit a socket (``None`` when a limit is reached) and run its sender while it is open."""
        owner = principal.user_id or principal.kind
        if len(self._clients) >= LIMIT_TOTAL or self._per_owner[owner] >= LIMIT_PER_USER:
            which = "the server's" if len(self._clients) >= LIMIT_TOTAL else "your"
            await ws.send_frame(
                frame(
                    "error", message=f"Connection limit reached ({which} limit): close other sockets first"
                ),
                WSMsgType.TEXT,
            )
            await ws.close(code=CLOSE_TRY_AGAIN, message=b"Too many connections")
            yield None
            return
        client = Client(ws, owner, filters, task_id, metrics)
        self._clients.add(client)
        self._per_owner[owner] += 1
        sender = asyncio.create_task(client.send_loop(), name="ws-sender")
        try:
            yield client
        finally:
            self._clients.discard(client)
            self._per_owner[owner] -= 1
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def read(self, client: Client, idle_timeout: float) -> None:
        """Answer pings and filter updates until the socket closes or stays silent too long."""
        ws = client.ws
        last_ping = time.monotonic()
        while not ws.closed:
            remaining = idle_timeout - (time.monotonic() - last_ping)
            if remaining <= 0:
                await ws.close(code=CLOSE_IDLE, message=f"No ping for {idle_timeout:g} s".encode())
                return
            try:
                message = await ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            retry_after = client.within_rate()
            if retry_after is not None:
                client.offer(
                    frame(
                        "error",
                        message="Rate limit exceeded. Please wait before sending more messages.",
                        retry_after=round(retry_after),
                    )
                )
                continue
            if message.type != WSMsgType.TEXT:
                client.offer(frame("error", message="Send JSON text messages"))
                continue
            try:
                data = orjson.loads(message.data)
                kind = data["type"]
            except (orjson.JSONDecodeError, TypeError, KeyError):
                client.offer(frame("error", message='Messages must be JSON objects with a "type"'))
                continue
            if kind == "ping":
                last_ping = time.monotonic()
                client.offer(frame("pong", timestamp=now_iso()))
            elif kind == "update_filters" and client.filters is not None:
                try:
                    client.filters = LogFilters.parse(data.get("filters") or {})
                except (ValueError, AttributeError) as exc:
                    client.offer(frame("error", message=f"Bad filters: {exc}"))
                    continue
                client.offer(frame("filters_updated", filters=client.filters.as_dict()))
            else:
                allowed = "ping or update_filters" if client.filters is not None else "ping"
                client.offer(frame("error", message=f"Unknown message type {kind!r}: send {allowed}"))

    async def close_all(self, app: web.Application) -> None:
        """Close every socket (the server is shutting down)."""
        for client in list(self._clients):
            await client.ws.close(code=1001, message=b"Server shutting down")


def task_status_data(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "agent_id": task.agent_id,
        "status": task.status,
        "progress": task.progress,
        "message": task.error if task.status == "failed" else f"Task {task.status}",
        "timestamp": now_iso(),
    }


def incident_notification(incident: Incident) -> dict[str, Any]:
    """A new high or critical security incident, as a notification."""
    return {
        "id": incident.id,
        "category": "security_incident",
        "type": "error",
        "severity": incident.severity,
        "title": f"{incident.severity.capitalize()} security incident",
        "message": f"{incident.violation_type}: {incident.description}",
        "timestamp": incident.timestamp,
        "incident_id": incident.incident_id,
        "violation_type": incident.violation_type,
        "agent_id": incident.agent_id,
    }


def alert_notification(alert: ResourceAlert) -> dict[str, Any]:
    """A resource that crossed its alert threshold, as a notification."""
    return {
        "id": str(uuid.uuid4()),
        "category": "resource_alert",
        "type": "warning",
        "severity": None,
        "title": "Resource alert",
        "message": alert.message,
        "timestamp": alert.at,
        "resource": alert.key,
        "value": alert.value,
        "threshold": alert.threshold,
        "unit": alert.unit,
    }


def task_complete_data(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "status": task.status,
        "output": task.output,
        "error": task.error,
        "model_usage": task.model_usage,
        "completed_at": task.completed_at,
        "timestamp": now_iso(),
    }


async def _open(request: web.Request) -> tuple[web.WebSocketResponse, Principal | None, dict[str, str]]:
    ws = web.WebSocketResponse(compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    principal, params = await request.app[WS_HUB].authenticate(request)
    if principal is None:
        await ws.close(
            code=CLOSE_POLICY,
            message=b"Missing or invalid token: connect with ?token=<login token or API key>",
        )
    return ws, principal, params


async def ws_logs(request: web.Request) -> web.WebSocketResponse:
    """Live log entries (``log_entry``) and task state changes (``task_update``), filtered by
    ``agent_id``, ``task_id`` and ``level`` (that level and the more severe ones); and, unfiltered,
    a ``notification`` for each new high or critical security incident and each resource alert."""
    hub = request.app[WS_HUB]
    ws, principal, params = await _open(request)
    if principal is None:
        return ws
    try:
        filters = LogFilters.parse(params)
    except ValueError as exc:
        await ws.send_frame(frame("error", message=f"Bad filters: {exc}"), WSMsgType.TEXT)
        await ws.close(code=CLOSE_POLICY, message=b"Bad filters")
        return ws
    async with hub.connect(ws, principal, filters, None) as client:
        if client is not None:
            client.offer(frame("connected", message="Streaming log entries", filters=filters.as_dict()))
            await hub.read(client, request.app[BACKEND].settings.ws_idle_timeout)
    return ws


async def ws_task(request: web.Request) -> web.WebSocketResponse:
    """One task's ``task_status``, ``task_progress`` and finally ``task_complete``, then close."""
    hub = request.app[WS_HUB]
    ws, principal, _ = await _open(request)
    if principal is None:
        return ws
    task_id = request.match_info["task_id"]
    async with hub.connect(ws, principal, None, task_id) as client:
        if client is None:
            return ws
        try:
            task = await request.app[BACKEND].tasks.get(task_id)
        except NotFound as exc:
            await ws.send_frame(frame("error", message=str(exc)), WSMsgType.TEXT)
            await ws.close(code=CLOSE_NOT_FOUND, message=b"Unknown task")
            return ws
        # Updates the hub queued since the socket was admitted are newer than this snapshot.
        client.offer_first(frame("task_status", data=task_status_data(task)))
        if task.finished and not client.closing:
            client.offer(frame("task_complete", data=task_complete_data(task)))
            client.offer(_CLOSE)
        await hub.read(client, request.app[BACKEND].settings.ws_idle_timeout)
    return ws


async def ws_metrics(request: web.Request) -> web.WebSocketResponse:
    """Every system sample as ``{"type": "metrics", "data": {...}}`` (the shape of
    ``GET /api/v1/system/metrics``), about once a second."""
    hub = request.app[WS_HUB]
    ws, principal, _ = await _open(request)
    if principal is None:
        return ws
    async with hub.connect(ws, principal, metrics=True) as client:
        if client is not None:
            latest = await request.app[BACKEND].metrics.latest()
            client.offer(frame("metrics", data=latest.model_dump(mode="json")))
            await hub.read(client, request.app[BACKEND].settings.ws_idle_timeout)
    return ws


async def ws_load_balancing(request: web.Request) -> web.WebSocketResponse:
    """The router's news: ``host_state`` when an Ollama host becomes healthy, degraded or down (or
    is added or removed), and ``routing_decision`` (sampled: every retry, miss and change of host,
    else one in ten). On connect, one ``host_state`` per host with its current state."""
    hub = request.app[WS_HUB]
    ws, principal, _ = await _open(request)
    if principal is None:
        return ws
    async with hub.connect(ws, principal) as client:
        if client is not None:
            client.load_balancing = True
            for view in request.app[BACKEND].router.views():
                data = {
                    "host_id": view.id,
                    "url": view.url,
                    "state": view.state,
                    "previous": None,
                    "reason": view.reason,
                    "removed": False,
                    "at": now_iso(),
                }
                client.offer(frame("host_state", data=data))
            await hub.read(client, request.app[BACKEND].settings.ws_idle_timeout)
    return ws


WS_HUB = web.AppKey("ws_hub", WsHub)


def install(app: web.Application, backend: Backend) -> None:
    """Add the WebSocket routes and run the hub while the app runs."""
    hub = app[WS_HUB] = WsHub(backend)

    async def hub_task(app: web.Application) -> AsyncIterator[None]:
        pump = asyncio.create_task(hub.run(), name="ws-hub")
        yield
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)

    app.cleanup_ctx.append(hub_task)
    app.on_shutdown.append(hub.close_all)
    app.router.add_get("/ws/logs", ws_logs)
    app.router.add_get("/ws/tasks/{task_id}", ws_task)
    app.router.add_get("/ws/metrics", ws_metrics)
    app.router.add_get("/ws/load-balancing", ws_load_balancing)
