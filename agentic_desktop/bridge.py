"""The one place where bus events become Qt signals."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from server.events import (
    AgentChanged,
    ApiStarted,
    ChatSessionChanged,
    HostStateChanged,
    IncidentChanged,
    IngestFinished,
    IngestProgressed,
    LogRecorded,
    MetricsSampled,
    ModelPullProgressed,
    ModelsChanged,
    OllamaStatusChanged,
    ResourceAlert,
    RoutingDecision,
    SecretChanged,
    SecurityLevelChanged,
    TaskChanged,
    TaskProgressed,
)

if TYPE_CHECKING:
    from server.bus import Event, EventBus, Subscription

# Log entries can come in bursts of thousands a second; the bridge hands them over in batches.
LOG_BATCH_INTERVAL = 0.1


class BusBridge(QObject):
    """Pumps the bus on the loop and re-emits each event as a signal panels connect to.

    Log entries are delivered as lists (``log_entries``) at most every 100 ms, so a burst costs
    the window one update per batch instead of one per entry.
    """

    ollama_status_changed = Signal(object)
    api_started = Signal(object)
    agent_changed = Signal(object)
    chat_session_changed = Signal(object)
    task_changed = Signal(object)
    task_progressed = Signal(object)
    log_entries = Signal(list)
    models_changed = Signal(object)
    model_pull_progressed = Signal(object)
    metrics_sampled = Signal(object)
    resource_alert = Signal(object)
    secret_changed = Signal(object)
    incident_changed = Signal(object)
    security_level_changed = Signal(object)
    ingest_progressed = Signal(object)
    ingest_finished = Signal(object)
    host_state_changed = Signal(object)
    routing_decision = Signal(object)

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self._bus = bus
        self._signals = {
            OllamaStatusChanged: self.ollama_status_changed,
            ApiStarted: self.api_started,
            AgentChanged: self.agent_changed,
            ChatSessionChanged: self.chat_session_changed,
            TaskChanged: self.task_changed,
            TaskProgressed: self.task_progressed,
            ModelsChanged: self.models_changed,
            ModelPullProgressed: self.model_pull_progressed,
            MetricsSampled: self.metrics_sampled,
            ResourceAlert: self.resource_alert,
            SecretChanged: self.secret_changed,
            IncidentChanged: self.incident_changed,
            SecurityLevelChanged: self.security_level_changed,
            IngestProgressed: self.ingest_progressed,
            IngestFinished: self.ingest_finished,
            HostStateChanged: self.host_state_changed,
            RoutingDecision: self.routing_decision,
        }
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Begin pumping (subscribes at once, so nothing published after this is missed)."""
        events = self._bus.subscribe(*self._signals)
        logs = self._bus.subscribe(LogRecorded, maxsize=50_000)
        self._tasks = [
            asyncio.create_task(self._pump(events), name="bus-bridge"),
            asyncio.create_task(self._pump_logs(logs), name="bus-bridge-logs"),
        ]

    async def _pump(self, subscription: Subscription[Event]) -> None:
        with subscription:
            async for event in subscription:
                self._emit(event)

    async def _pump_logs(self, subscription: Subscription[LogRecorded]) -> None:
        with subscription:
            while True:
                batch = [(await subscription.get()).entry]
                await asyncio.sleep(LOG_BATCH_INTERVAL)
                while subscription.pending():
                    batch.append((await subscription.get()).entry)
                self.log_entries.emit(batch)

    def _emit(self, event: Event) -> None:
        for kind, signal in self._signals.items():
            if isinstance(event, kind):
                signal.emit(event)

    async def stop(self) -> None:
        """Stop pumping and wait until the pumps have ended."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
