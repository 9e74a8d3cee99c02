"""The window's event loop: qasync's QEventLoop with asyncio's ready queue put back.

qasync runs every ``call_soon`` as its own zero-delay Qt timer: a C++ timer registration, a
``timerEvent`` dispatched into Python and a dictionary update per callback. An aiohttp request
schedules several such callbacks, so under API load the window's loop spent most of its time in
that machinery (about 360 us of CPU per /health request against 190 us headless, and a 10 ms timer
firing 15-70 ms late at the 99th percentile with 50 clients).

This loop keeps callbacks in a FIFO deque, as asyncio's own loop does, and drains it from a single
zero-delay timer. A drain runs only the callbacks queued when it began, and stops early once it has
used its time budget (a few milliseconds); what is left runs in the next drain, in order. Between
drains Qt paints, fires timers and reads sockets, so a burst of API work cannot freeze the window
for longer than one budget.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import qasync

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextvars import Context


# Longest stretch of callbacks run before Qt gets the thread back (a 60 Hz frame is 16.7 ms).
DRAIN_BUDGET = 0.004


class BatchedQEventLoop(qasync.QEventLoop):
    """qasync's loop, with ``call_soon`` batched through one Qt timer per drain."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._ready: deque[asyncio.Handle] = deque()
        self._drain_scheduled = False
        super().__init__(*args, **kwargs)

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        """Queue ``callback`` to run in the next drain (FIFO, like asyncio)."""
        self._check_closed()
        if asyncio.iscoroutinefunction(callback):  # same contract as qasync and asyncio
            raise TypeError("coroutines cannot be used with call_soon()")
        handle = asyncio.Handle(callback, args, self, context=context)
        self._ready.append(handle)
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._add_callback(asyncio.Handle(self._drain, (), self), 0)
        return handle

    def _drain(self) -> None:
        """Run the callbacks queued when this drain began, for at most ``DRAIN_BUDGET``."""
        self._drain_scheduled = False
        if not self.is_running():
            # Qt may process events while the loop is stopped (a nested processEvents, a test
            # harness); asyncio runs callbacks only while the loop runs, so they wait for it.
            return
        ready = self._ready
        deadline = time.perf_counter() + DRAIN_BUDGET
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()
            if time.perf_counter() > deadline:
                break
        if ready and not self._drain_scheduled:
            self._drain_scheduled = True
            self._add_callback(asyncio.Handle(self._drain, (), self), 0)

    def run_forever(self) -> None:
        """Run until stopped, starting with whatever was queued while the loop was stopped.

        Like asyncio's own loops (and unlike qasync), it installs the async-generator hooks while
        running, so an abandoned ``async for`` over a stream is closed on the loop.
        """
        if self._ready and not self._drain_scheduled:
            self._drain_scheduled = True
            self._add_callback(asyncio.Handle(self._drain, (), self), 0)
        old_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(
            firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook
        )
        try:
            super().run_forever()
        finally:
            sys.set_asyncgen_hooks(*old_hooks)

    def pending_callbacks(self) -> int:
        """Callbacks waiting for the next drain."""
        return len(self._ready)
