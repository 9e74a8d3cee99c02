"""``agentic-desktop`` as a real process, offscreen: serves its API and quits cleanly on a signal."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.processes import child_env, launch

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.ollama import FakeOllamaThread


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_window_process_serves_and_quits_cleanly_on_signal(
    tmp_path: Path, ollama_thread: FakeOllamaThread, signum: int
) -> None:
    data_dir = tmp_path / "data"
    env = child_env(ollama_thread.fake.url, XDG_RUNTIME_DIR=str(tmp_path))
    with launch("agentic_desktop", data_dir, env) as desktop:
        response = httpx.get(f"{desktop.url}/api/v1/health", timeout=10)
        assert response.status_code == 200
        assert httpx.get(f"{desktop.url}/api/v1/ready", timeout=10).status_code == 200
        assert desktop.stop(signum) == 0
    log = desktop.stderr()
    assert "Agentic Desktop closed" in log
    for bad in ("Traceback", "WARNING", "QObject", "QWidget", "QThread", "Unclosed", "was never awaited"):
        assert bad not in log, log
    assert not (data_dir / "runtime.json").exists()
