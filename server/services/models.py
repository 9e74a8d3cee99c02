"""Ollama models: what is installed, downloads with progress and cancel, deletion."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.bus import utcnow
from server.events import ModelPullProgressed, ModelsChanged
from server.services.errors import AgenticError, Conflict, NotFound

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from typing import Any

    from server.bus import EventBus
    from server.services.llm import InstalledModel, ModelDetails, OllamaGateway
    from server.services.logs import LogService

log = logging.getLogger(__name__)

# Progress events at most this often per download (Ollama reports many times a second).
PROGRESS_INTERVAL = 0.25


@dataclass
class PullState:
    """A download in progress (or just ended)."""

    model: str
    status: str = "starting"
    completed: int | None = None
    total: int | None = None
    started_at: datetime = field(default_factory=utcnow)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def percent(self) -> int | None:
        if self.total and self.completed is not None:
            return min(100, round(100 * self.completed / self.total))
        return None


class ModelService:
    """What the Models panel and the ``/ollama`` routes need, on top of the gateway."""

    def __init__(
        self,
        llm: OllamaGateway,
        bus: EventBus,
        logs: LogService,
        spawn: Callable[..., asyncio.Task[None]],
        default_model: str | None = None,
    ) -> None:
        self._llm = llm
        self._bus = bus
        self._logs = logs
        self._spawn = spawn
        self._default_model = default_model
        self._pulls: dict[str, PullState] = {}

    async def installed(self) -> list[InstalledModel]:
        """The installed models."""
        return await self._llm.list_models()

    async def names(self) -> list[str]:
        """Names of the installed models."""
        return await self._llm.model_names()

    async def show(self, name: str) -> ModelDetails:
        """Details of one model."""
        return await self._llm.show(name)

    async def default_model(self) -> str | None:
        """The configured default model when it is installed, else the first installed one."""
        names = await self.names()
        if self._default_model and (self._default_model in names or f"{self._default_model}:latest" in names):
            return self._default_model
        return names[0] if names else None

    async def delete(self, name: str) -> None:
        """Remove a model from Ollama."""
        await self._llm.delete(name)
        self._logs.record("info", f"Deleted model {name}", source="ollama")
        self._bus.publish(ModelsChanged(model=name, change="deleted"))

    def pulls(self) -> list[PullState]:
        """Downloads in progress."""
        return list(self._pulls.values())

    def start_pull(self, name: str) -> PullState:
        """Begin downloading ``name`` in the background; progress goes on the bus and the log."""
        if name in self._pulls:
            raise Conflict(f"Model '{name}' is already being pulled")
        state = PullState(model=name)
        self._pulls[name] = state
        state.task = self._spawn(self._pull(state), name=f"pull-{name}")
        return state

    def cancel_pull(self, name: str) -> None:
        """Stop a download (Ollama keeps the layers it already has, so a new pull resumes)."""
        state = self._pulls.get(name)
        if state is None or state.task is None:
            raise NotFound(f"Model '{name}' is not being pulled")
        state.task.cancel()

    async def _pull(self, state: PullState) -> None:
        name = state.model
        self._logs.record("info", f"Pulling model {name}", source="ollama")
        last_event = 0.0
        try:
            steps = self._llm.pull(name)
            async with contextlib.aclosing(steps):  # type: ignore[type-var]
                async for step in steps:
                    state.status, state.completed, state.total = step.status, step.completed, step.total
                    now = time.monotonic()
                    if now - last_event >= PROGRESS_INTERVAL:
                        last_event = now
                        self._publish(state)
        except asyncio.CancelledError:
            self._finish(state, "cancelled", "info", f"Pull of {name} cancelled")
            raise
        except AgenticError as exc:
            self._finish(state, str(exc), "error", f"Pull of {name} failed: {exc}")
            return
        except Exception as exc:  # a download failing oddly must still end in the panel, not hang
            log.exception("Pull of %s failed", name)
            self._finish(state, f"unexpected error: {exc}", "error", f"Pull of {name} failed: {exc}")
            return
        state.status = "success"
        self._finish(state, None, "info", f"Pulled model {name}")
        self._bus.publish(ModelsChanged(model=name, change="pulled"))

    def _publish(self, state: PullState, *, done: bool = False, error: str | None = None) -> None:
        self._bus.publish(
            ModelPullProgressed(
                model=state.model,
                status=state.status,
                completed=state.completed,
                total=state.total,
                done=done,
                error=error,
            )
        )

    def _finish(self, state: PullState, error: str | None, level: Any, message: str) -> None:
        self._pulls.pop(state.model, None)
        if error is not None:
            state.status = "cancelled" if error == "cancelled" else "failed"
        self._publish(state, done=True, error=error)
        self._logs.record(level, message, source="ollama")
