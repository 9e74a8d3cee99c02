"""Regression: PySide6 6.12.0 + qasync 0.28 aborts ("Fatal Python error: none_dealloc") within
seconds when the in-window server is under load. 50 concurrent clients for 10 s must leave the
window process alive, every request answered, and a clean exit afterwards.

Both loops are driven: the window's batched loop (what ships) schedules far fewer Qt timers and
makes the crash rarer, so plain qasync is what exposes a broken Qt reliably."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import aiohttp
import pytest

from tests.processes import child_env, launch

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.ollama import FakeOllamaThread

CLIENTS = 50
SECONDS = 10.0
# Far below what a working Qt serves here (thousands per second), far above the broken one's rate
# under load before it dies.
MIN_REQUESTS = 1000


async def hammer(url: str) -> tuple[int, list[str]]:
    """``CLIENTS`` concurrent loops of GET /api/v1/health for ``SECONDS``; returns (ok, failures)."""
    ok = 0
    failures: list[str] = []
    deadline = time.monotonic() + SECONDS

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal ok
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/api/v1/health") as response:
                    await response.read()
                    if response.status == 200:
                        ok += 1
                    else:
                        failures.append(f"status {response.status}")
            except aiohttp.ClientError as exc:
                failures.append(repr(exc))
                return

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
    return ok, failures


@pytest.mark.parametrize("qt_loop", ["batched", "qasync"])
def test_window_process_survives_50_concurrent_clients_for_10_seconds(
    tmp_path: Path, ollama_thread: FakeOllamaThread, qt_loop: str
) -> None:
    env = child_env(
        ollama_thread.fake.url,
        XDG_RUNTIME_DIR=str(tmp_path),
        AGENTIC_LOG_LEVEL="WARNING",
        AGENTIC_QT_LOOP=qt_loop,
    )
    with launch("agentic_desktop", tmp_path / "data", env) as desktop:
        ok, failures = asyncio.run(hammer(desktop.url))
        assert desktop.process.poll() is None, f"window process died:\n{desktop.stderr()[-4000:]}"
        assert failures == []
        assert ok >= MIN_REQUESTS
        assert desktop.stop() == 0
    assert "Fatal Python error" not in desktop.stderr()
