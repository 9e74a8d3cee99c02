"""The window's loop: qasync with a batched ready queue keeps asyncio's call_soon contract."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from agentic_desktop.loop import BatchedQEventLoop


def test_callbacks_run_in_the_order_they_were_scheduled(qloop: BatchedQEventLoop) -> None:
    order: list[int] = []

    async def schedule() -> None:
        loop = asyncio.get_running_loop()
        for n in range(50):
            loop.call_soon(order.append, n)
        await asyncio.sleep(0.01)

    qloop.run_until_complete(schedule())
    assert order == list(range(50))


def test_cancelled_callbacks_do_not_run(qloop: BatchedQEventLoop) -> None:
    ran: list[str] = []

    async def schedule() -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(ran.append, "kept")
        loop.call_soon(ran.append, "cancelled").cancel()
        await asyncio.sleep(0.01)

    qloop.run_until_complete(schedule())
    assert ran == ["kept"]


def test_callbacks_scheduled_during_a_drain_wait_for_the_next_one(qloop: BatchedQEventLoop) -> None:
    seen_pending: list[int] = []

    async def schedule() -> None:
        loop = asyncio.get_running_loop()

        def first() -> None:
            loop.call_soon(lambda: None)
            seen_pending.append(qloop.pending_callbacks())

        loop.call_soon(first)
        await asyncio.sleep(0.01)

    qloop.run_until_complete(schedule())
    assert seen_pending == [1]


def test_a_failing_callback_goes_to_the_exception_handler_and_the_rest_still_run(
    qloop: BatchedQEventLoop,
) -> None:
    errors: list[BaseException] = []
    ran: list[str] = []

    def boom() -> None:
        raise ValueError("boom")

    async def schedule() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: errors.append(context["exception"]))
        loop.call_soon(boom)
        loop.call_soon(ran.append, "after")
        await asyncio.sleep(0.01)

    qloop.run_until_complete(schedule())
    assert ran == ["after"]
    assert [str(error) for error in errors] == ["boom"]


def test_threads_can_schedule_onto_the_loop(qloop: BatchedQEventLoop) -> None:
    async def from_thread() -> int:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        await asyncio.to_thread(lambda: loop.call_soon_threadsafe(done.set_result, 7))
        return await asyncio.wait_for(done, timeout=5)

    assert qloop.run_until_complete(from_thread()) == 7


def test_coroutine_functions_are_refused(qloop: BatchedQEventLoop) -> None:
    async def coroutine_function() -> None:
        return None

    with pytest.raises(TypeError):
        qloop.call_soon(coroutine_function)


def test_a_long_batch_yields_to_qt_and_finishes_in_order(qloop: BatchedQEventLoop) -> None:
    from agentic_desktop import loop as loop_module

    order: list[int] = []
    drains_seen: set[int] = set()
    drain_count = 0

    original_drain = qloop._drain

    def counting_drain() -> None:
        nonlocal drain_count
        drain_count += 1
        original_drain()

    def slow(n: int) -> None:
        end = time.perf_counter() + loop_module.DRAIN_BUDGET / 2
        while time.perf_counter() < end:
            pass
        order.append(n)
        drains_seen.add(drain_count)

    async def schedule() -> None:
        loop = asyncio.get_running_loop()
        for n in range(12):
            loop.call_soon(slow, n)
        while len(order) < 12:
            await asyncio.sleep(0.005)

    qloop._drain = counting_drain  # type: ignore[method-assign]
    qloop.run_until_complete(schedule())
    assert order == list(range(12))
    assert len(drains_seen) >= 4
