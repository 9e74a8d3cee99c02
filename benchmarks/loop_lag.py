"""Loop lag and throughput of the API inside the window, beside headless and a bare aiohttp handler.

In this process: the window (offscreen) with the embedded API, and a sampler that measures how late
a 10 ms timer fires on the Qt/asyncio loop. From another process: 50 concurrent clients at
/api/v1/health for 10 s (wrk when installed, else benchmarks/load.py). Interleaved in the same run,
the same load against a bare aiohttp handler on a plain asyncio loop (the reference) and against the
headless server; ratios are per round, and the median round is reported (the machine is noisy).
Also: idle memory of both front doors, and the garbage-collector pauses seen in the window.

Usage: python benchmarks/loop_lag.py [--clients 50] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks.common import (
    API_KEY,
    child,
    child_env,
    cpu_seconds,
    free_port,
    machine,
    rss_mb,
    run_load_async,
    summary_ms,
)

SAMPLE_INTERVAL = 0.010
IDLE_SETTLE = 3.0


def serve_bare(port: int) -> None:
    """The reference: one aiohttp handler, no middleware, no access log, plain asyncio loop."""
    from aiohttp import web

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "healthy",
                "app_name": "Agentic Desktop",
                "version": "0.1.0",
                "timestamp": datetime.now(UTC).isoformat(),
            }
        )

    app = web.Application()
    app.router.add_get("/api/v1/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def sample_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """Record how late each 10 ms sleep wakes up."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(SAMPLE_INTERVAL)
        lags.append(max(0.0, time.perf_counter() - started - SAMPLE_INTERVAL))


class QtTimerLag:
    """How late a 10 ms Qt timer fires: what paint, input and Qt timers wait for.

    The asyncio sampler measures how long an asyncio callback waits behind the API's queued work;
    this one measures how long Qt's own event processing (painting, input, QTimers) waits.
    """

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.lags: list[float] = []
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(int(SAMPLE_INTERVAL * 1000))
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            self.lags.append(max(0.0, now - self._last - SAMPLE_INTERVAL))
        self._last = now

    def start(self) -> None:
        self._last = 0.0
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


class GcPauses:
    """Durations of garbage collections in this process, by generation."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))


async def measure(args: argparse.Namespace, tmp_path: Path, env: dict[str, str], ollama_url: str) -> dict:
    """Everything, on the window's own loop."""
    from agentic_desktop.app import DesktopApp, create_qt_app
    from server.config import Settings

    python = sys.executable
    # Per round: (req/s, CPU seconds per request) for each front door.
    results: dict = {"bare": [], "headless": [], "window": [], "lag": [], "idle_lag": []}
    qt_lag = QtTimerLag()

    window_port = free_port()
    window_cmd = [
        python,
        "-m",
        "agentic_desktop",
        "--port",
        str(window_port),
        "--data-dir",
        str(tmp_path / "w"),
    ]
    with child(window_cmd, env, window_port) as window_process:
        await asyncio.sleep(IDLE_SETTLE)
        results["window_rss"] = rss_mb(window_process.pid)

    bare_port, headless_port, port = free_port(), free_port(), free_port()
    headless_cmd = [python, "-m", "server", "--port", str(headless_port), "--data-dir", str(tmp_path / "h")]
    with (
        child([python, __file__, "--bare", str(bare_port)], env, bare_port) as bare,
        child(headless_cmd, env, headless_port) as headless,
    ):
        await asyncio.sleep(IDLE_SETTLE)
        results["headless_rss"] = rss_mb(headless.pid)
        settings = Settings(
            data_dir=tmp_path / "in-process",
            port=port,
            ollama_host=ollama_url,
            api_key=API_KEY,
            admin_password="benchmark-password",
        )
        desktop = DesktopApp(settings, create_qt_app())
        await desktop.start()
        gc_pauses = GcPauses()
        try:
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_lag(stop, results["idle_lag"]))
            await asyncio.sleep(2.0)
            stop.set()
            await sampler
            pids = {"bare": bare.pid, "headless": headless.pid, "window": os.getpid()}
            ports = {"bare": bare_port, "headless": headless_port, "window": port}
            for _ in range(args.rounds):
                for name in ("bare", "headless", "window"):
                    url = f"http://127.0.0.1:{ports[name]}/api/v1/health"
                    if name == "window":
                        stop = asyncio.Event()
                        sampler = asyncio.create_task(sample_lag(stop, results["lag"]))
                        gc.callbacks.append(gc_pauses)
                        qt_lag.start()
                    cpu_before = cpu_seconds(pids[name])
                    try:
                        rps, requests = await run_load_async(url, args.clients, args.seconds)
                    finally:
                        if name == "window":
                            gc.callbacks.remove(gc_pauses)
                            qt_lag.stop()
                            stop.set()
                            await sampler
                    results[name].append((rps, (cpu_seconds(pids[name]) - cpu_before) / requests))
        finally:
            await desktop.shutdown()
    results["gc"] = gc_pauses.pauses
    results["qt_lag"] = qt_lag.lags
    return results


def report(args: argparse.Namespace, r: dict) -> None:
    lag = summary_ms(r["lag"])
    qt_lag = summary_ms(r["qt_lag"])
    idle = summary_ms(r["idle_lag"])
    full_gcs = [pause for generation, pause in r["gc"] if generation == 2]

    def ratios(name: str) -> tuple[list[float], list[float]]:
        """Per round: req/s relative to bare, and bare's CPU per request relative to ours."""
        pairs = list(zip(r[name], r["bare"], strict=True))
        return [ours[0] / bare[0] for ours, bare in pairs], [bare[1] / ours[1] for ours, bare in pairs]

    print(f"# loop_lag  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(
        f"# load: {args.clients} concurrent clients x {args.seconds:.0f} s per measurement, "
        f"GET /api/v1/health, {args.rounds} interleaved rounds"
    )
    for name, label in (("bare", "bare aiohttp handler"), ("headless", "headless"), ("window", "window")):
        per_round = " ".join(f"{rps:7.0f}" for rps, _ in r[name])
        cpu = statistics.median(cost for _, cost in r[name]) * 1e6
        print(f"{label:21s} req/s per round {per_round}   median CPU {cpu:6.0f} us/request")
    for name, budget in (("headless", "60%"), ("window", "30%")):
        by_rate, by_cpu = ratios(name)
        print(
            f"{name:8s} / bare: by req/s median {statistics.median(by_rate):6.1%}"
            f" (rounds {' '.join(f'{x:.0%}' for x in by_rate)});"
            f" by CPU per request median {statistics.median(by_cpu):6.1%}   (budget >= {budget})"
        )
    print(
        f"window Qt timer lag under load:   p50 {qt_lag['p50_ms']:.2f} ms  p99 {qt_lag['p99_ms']:.2f} ms  "
        f"max {qt_lag['max_ms']:.2f} ms  ({len(r['qt_lag'])} samples; budget p99 < 16 ms)"
    )
    print(
        f"window asyncio lag under load:    p50 {lag['p50_ms']:.2f} ms  p99 {lag['p99_ms']:.2f} ms  "
        f"max {lag['max_ms']:.2f} ms  ({len(r['lag'])} samples)"
    )
    print(f"window asyncio lag idle:          p50 {idle['p50_ms']:.2f} ms  p99 {idle['p99_ms']:.2f} ms")
    print(
        f"GC in the window under load: {len(r['gc'])} collections, {len(full_gcs)} full, "
        f"longest {max((p for _, p in r['gc']), default=0) * 1000:.1f} ms"
    )
    print(
        f"idle RSS   headless {r['headless_rss']:6.1f} MB (budget < 120 MB)   "
        f"window {r['window_rss']:6.1f} MB (budget < 250 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(args.bare)
        return
    from server.runtime import tune_interpreter

    tune_interpreter()  # the window in this process runs as agentic-desktop does

    from agentic_desktop.app import create_qt_app
    from agentic_desktop.loop import BatchedQEventLoop

    with tempfile.TemporaryDirectory() as tmp:
        ollama_port = free_port()
        ollama_url = f"http://127.0.0.1:{ollama_port}"
        env = child_env(OLLAMA_HOST=ollama_url)
        fake_cmd = [sys.executable, "-m", "tests.fakes.ollama", "--port", str(ollama_port)]
        with child(fake_cmd, env, ollama_port):
            loop = BatchedQEventLoop(create_qt_app())
            with loop:
                results = loop.run_until_complete(measure(args, Path(tmp), env, ollama_url))
    report(args, results)


if __name__ == "__main__":
    main()
