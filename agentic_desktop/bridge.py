"""The one place where bus events become Qt signals."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from server.events import ApiStarted, OllamaStatusChanged

if TYPE_CHECKING:
    from server.bus import Event, EventBus, Subscription


class BusBridge(QObject):
    """Pumps the bus on the loop and re-emits each event as a signal panels connect to."""

    ollama_status_changed = Signal(object)
    api_started = Signal(object)

    def __init__(self, bus: EventBus) -> None:
        super().__init__()
        self._bus = bus
        self._signals = {
            OllamaStatusChanged: self.ollama_status_changed,
            ApiStarted: self.api_started,
        }
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin pumping (subscribes at once, so nothing published after this is missed)."""
        subscription = self._bus.subscribe(*self._signals)
        self._task = asyncio.create_task(self._pump(subscription), name="bus-bridge")

    async def _pump(self, subscription: Subscription[Event]) -> None:
        with subscription:
            async for event in subscription:
                self._emit(event)

    def _emit(self, event: Event) -> None:
        for kind, signal in self._signals.items():
            if isinstance(event, kind):
                signal.emit(event)

    async def stop(self) -> None:
        """Stop pumping and wait until the pump has ended."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
