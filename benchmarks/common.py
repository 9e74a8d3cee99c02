"""Helpers shared by the benchmarks: free ports, child processes, load generation, percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "benchmark-api-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {deadline}s")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTIC_")}
    env.update(
        AGENTIC_API_KEY=API_KEY,
        AGENTIC_ADMIN_PASSWORD="benchmark-password",
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextmanager
def child(args: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run a child process until the block ends; waits until it listens on ``port``."""
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(samples, 50) * 1000,
        "p99_ms": percentile(samples, 99) * 1000,
        "max_ms": max(samples) * 1000 if samples else float("nan"),
        "mean_ms": statistics.fmean(samples) * 1000 if samples else float("nan"),
    }


def load_command(url: str, clients: int, seconds: float) -> list[str]:
    """wrk when it is installed (a C load generator: it does not cap what we measure), else ours."""
    if shutil.which("wrk"):
        return ["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--latency", url]
    return [sys.executable, str(Path(__file__).with_name("load.py")), url, str(clients), str(seconds)]


def parse_load(output: str) -> tuple[float, int]:
    """Requests per second and requests in all, from wrk's or load.py's output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate and total:
        return float(rate.group(1)), int(total.group(1))
    result = json.loads(output.strip().splitlines()[-1])
    return float(result["rps"]), int(result["requests"])


async def run_load_async(url: str, clients: int, seconds: float) -> tuple[float, int]:
    """Drive ``clients`` concurrent connections at ``url`` for ``seconds``: (req/s, requests)."""
    process = await asyncio.create_subprocess_exec(
        *load_command(url, clients, seconds), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    if process.returncode:
        raise RuntimeError(stderr.decode())
    return parse_load(stdout.decode())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def machine() -> str:
    import platform

    return f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}"
