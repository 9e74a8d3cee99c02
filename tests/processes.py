"""Start ``python -m server`` or ``python -m agentic_desktop`` as a real process and wait for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, API_KEY

START_DEADLINE = 60.0
POLL = 0.05


@dataclass
class Launched:
    """A started instance: its process, API URL and the file its stderr goes to."""

    process: subprocess.Popen[bytes]
    url: str
    stderr_path: Path
    data_dir: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``signum`` and wait for the exit status."""
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


def child_env(ollama_url: str, **extra: str) -> dict[str, str]:
    """The environment of a child instance: fake Ollama, known credentials, offscreen Qt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTIC_")}
    env.update(
        OLLAMA_HOST=ollama_url,
        AGENTIC_API_KEY=API_KEY,
        AGENTIC_ADMIN_USER=ADMIN_USER,
        AGENTIC_ADMIN_PASSWORD=ADMIN_PASSWORD,
        QT_QPA_PLATFORM="offscreen",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def wait_for_runtime(process: subprocess.Popen[bytes], data_dir: Path, stderr_path: Path) -> str:
    """Poll for ``runtime.json`` (written once the API listens) until a deadline."""
    runtime = data_dir / "runtime.json"
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"exited with {process.returncode} before serving:\n{stderr_path.read_text()}"
            )
        if runtime.exists():
            try:
                return str(json.loads(runtime.read_text())["url"])
            except ValueError:
                pass  # caught mid-write; the next poll sees the whole file
        time.sleep(POLL)
    raise AssertionError(f"not serving after {START_DEADLINE}s:\n{stderr_path.read_text()}")


@contextmanager
def launch(module: str, data_dir: Path, env: dict[str, str], *args: str) -> Iterator[Launched]:
    """Run ``python -m module --port 0 --data-dir data_dir``; killed if the test leaves it running."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"{module}.stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", "--data-dir", str(data_dir), *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        url = wait_for_runtime(process, data_dir, stderr_path)
        yield Launched(process, url, stderr_path, data_dir)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
