"""GUI fixtures: the real DesktopApp on a qasync loop, offscreen, against the fake Ollama."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QCoreApplication, QEvent

from agentic_desktop.app import DesktopApp, create_qt_app
from agentic_desktop.loop import BatchedQEventLoop
from server.bus import utcnow
from server.config import Settings
from server.services.tasks import Task
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, API_KEY
from tests.fakes.ollama import FakeOllama, FakeOllamaThread

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

DEADLINE = 10.0


@pytest.fixture(autouse=True)
def verify_cleanup() -> None:
    """GUI tests run their own qasync loop; ``qloop`` checks that loop instead."""


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[BatchedQEventLoop]:
    """A qasync loop over the test QApplication; fails the test if tasks are left on it.

    Afterwards, windows the test deleted are destroyed and Qt wrappers in reference cycles are
    collected here, on the GUI thread: left for later, Python's collector could run them from
    whatever thread allocates next (a fake server's, a driver's), and Qt crashes when a widget
    is destroyed off its thread.
    """
    loop = BatchedQEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    loop.close()
    asyncio.set_event_loop(None)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    assert not leftovers, f"tasks left running: {leftovers}"


@pytest.fixture
def ollama_thread() -> Iterator[FakeOllamaThread]:
    runner = FakeOllamaThread()
    with runner:
        yield runner


@pytest.fixture
def desktop(
    qloop: BatchedQEventLoop, ollama_thread: FakeOllamaThread, tmp_path: Path
) -> Iterator[DesktopApp]:
    settings = Settings(
        data_dir=tmp_path / "data",
        port=0,
        ollama_host=ollama_thread.fake.url,
        api_key=API_KEY,
        admin_user=ADMIN_USER,
        admin_password=ADMIN_PASSWORD,
    )
    app = DesktopApp(settings, create_qt_app())
    qloop.run_until_complete(app.start())
    yield app
    qloop.run_until_complete(app.shutdown())


def wait_until(loop: BatchedQEventLoop, condition: Callable[[], bool], deadline: float = DEADLINE) -> None:
    """Run the loop until ``condition()`` holds, failing after ``deadline`` seconds."""

    async def poll() -> None:
        end = time.monotonic() + deadline
        while not condition():
            if time.monotonic() > end:
                raise AssertionError("condition not met before the deadline")
            await asyncio.sleep(0.02)

    loop.run_until_complete(poll())


__all__ = ["FakeOllama", "wait_until"]


def make_task(**fields: Any) -> Task:
    """A task as the service would hand it to the window (``fields`` override the defaults)."""
    values: dict[str, Any] = {
        "id": "t1",
        "agent_id": "a1",
        "task_type": "generate",
        "status": "running",
        "input": {},
        "output": None,
        "error": None,
        "progress": 0,
        "model_usage": None,
        "created_at": utcnow(),
        "started_at": None,
        "completed_at": None,
    }
    return Task(**{**values, **fields})
