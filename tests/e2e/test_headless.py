"""``python -m server`` as a real process: start, serve, and stop cleanly on a signal."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import API_KEY
from tests.processes import child_env, launch

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.ollama import FakeOllama


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_headless_server_serves_then_exits_0_on_signal(
    tmp_path: Path, ollama_thread: FakeOllama, signum: int
) -> None:
    data_dir = tmp_path / "data"
    with launch("server", data_dir, child_env(ollama_thread.url)) as server:
        health = httpx.get(f"{server.url}/api/v1/health", headers={"X-Request-ID": "e2e-trace-7"}, timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "healthy"
        assert httpx.get(f"{server.url}/api/v1/ready", timeout=10).status_code == 200
        metrics = httpx.get(
            f"{server.url}/api/v1/metrics", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
        )
        assert metrics.status_code == 200
        assert server.stop(signum) == 0
    assert not (data_dir / "runtime.json").exists()
    log = server.stderr()
    assert "Traceback" not in log
    assert "Backend stopped" in log
    access_log = (data_dir / "logs" / "access.log").read_text()
    assert '"GET /api/v1/health HTTP/1.1" 200' in access_log
    assert "rid=e2e-trace-7" in access_log


def test_port_in_use_exits_2_with_advice(tmp_path: Path, ollama_thread: FakeOllama) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "server", "--port", str(port), "--data-dir", str(tmp_path / "d")],
            env=child_env(ollama_thread.url),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_flag_value_exits_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "--port", "70000", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "port" in result.stderr
    assert "less than or equal to 65535" in result.stderr
