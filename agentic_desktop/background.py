"""Background work the window starts (refreshes, counts), kept so that quitting can cancel it.

Panels start their loaders here instead of with a bare ``create_task``: every task is named and
referenced, and ``finish_all`` ends what is still running before the backend goes away.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Slot

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

log = logging.getLogger(__name__)

_running: set[asyncio.Task[Any]] = set()


def start(coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
    """Run ``coro`` on the window's loop; a failure is logged, not lost."""
    task = asyncio.ensure_future(coro)
    task.set_name(name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


def restart(
    previous: asyncio.Task[Any] | None, coro: Coroutine[Any, Any, Any], *, name: str
) -> asyncio.Task[Any]:
    """Start ``coro``, cancelling ``previous`` if it still runs (a newer reload replaces an older one)."""
    if previous is not None and not previous.done():
        previous.cancel()
    return start(coro, name=name)


def async_slot(*types: type) -> Callable[[Callable[..., Coroutine[Any, Any, Any]]], Callable[..., Any]]:
    """Make a coroutine method a Qt slot whose run is kept here (like qasync's ``asyncSlot``, but
    quitting waits for it instead of deleting the widgets under it)."""

    def decorate(method: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        @Slot(*types)
        @functools.wraps(method)
        def slot(*args: Any) -> asyncio.Task[Any]:
            return start(method(*args), name=method.__qualname__)

        return slot

    return decorate


async def finish_all(grace: float = 2.0) -> None:
    """Let running work finish for up to ``grace`` seconds, then cancel what is left.

    Loaders are short; letting them end beats cutting a database call in half.
    """
    tasks = list(_running)
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
