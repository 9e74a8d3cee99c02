"""What chat costs on top of Ollama: time to first token through the API, and the window while a
reply streams into the Chat panel.

Part 1: the fake Ollama and the headless server run as child processes. Interleaved in the same
run, the same one-message conversation is sent (a) straight to Ollama's ``/api/chat`` (the
reference) and (b) through ``POST /api/v1/chat/sessions/{id}/messages`` with ``"stream": true``
(a fresh session each time, so both send the same conversation). Time to first token is from
sending the request to receiving the first token (Ollama's first NDJSON line with content; the
API's first ``event: token``). Reported: both distributions and the API's extra time at p50.

Part 2: the window in this process (offscreen) against a fake Ollama that streams 200 tokens a
second; a reply of ``--tokens`` tokens is sent from the Chat panel while a 10 ms Qt timer and a
10 ms asyncio sleep measure how late the loop is, beside the same measurement idle in the same run.

Usage: python benchmarks/chat_overhead.py [--requests 200] [--tokens 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks.common import API_KEY, child, child_env, free_port, machine, percentile, summary_ms
from benchmarks.loop_lag import QtTimerLag, sample_lag

MODEL = "llama3.2:latest"
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
TOKENS_PER_SECOND = 200
WARMUP = 10


async def first_token_direct(http: object, ollama: str, message: str) -> float:
    """Seconds until Ollama's first token line, for one chat request sent straight to it."""
    started = time.perf_counter()
    body = {"model": MODEL, "messages": [{"role": "user", "content": message}], "stream": True}
    async with http.post(f"{ollama}/api/chat", json=body) as resp:  # type: ignore[attr-defined]
        first = None
        async for line in resp.content:
            if first is None and b'"content":"' in line and b'"content":""' not in line:
                first = time.perf_counter() - started
        assert first is not None
        return first


async def first_token_api(http: object, api: str, message: str) -> float:
    """Seconds until the API's first ``event: token``, in a fresh session."""
    async with http.post(  # type: ignore[attr-defined]
        f"{api}/api/v1/chat/sessions", json={"model_name": MODEL}, headers=HEADERS
    ) as resp:
        assert resp.status == 200, await resp.text()
        session = await resp.json()
    started = time.perf_counter()
    async with http.post(  # type: ignore[attr-defined]
        f"{api}/api/v1/chat/sessions/{session['id']}/messages",
        json={"message": message, "stream": True},
        headers=HEADERS,
    ) as resp:
        assert resp.status == 200, await resp.text()
        first = None
        async for line in resp.content:
            if first is None and line.startswith(b"event: token"):
                first = time.perf_counter() - started
        assert first is not None
        return first


async def part1(args: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    import aiohttp

    ollama_port, api_port = free_port(), free_port()
    ollama = f"http://127.0.0.1:{ollama_port}"
    api = f"http://127.0.0.1:{api_port}"
    env = child_env(OLLAMA_HOST=ollama)
    python = sys.executable
    fake = [python, "-m", "tests.fakes.ollama", "--port", str(ollama_port)]
    server = [python, "-m", "server", "--port", str(api_port), "--data-dir", str(tmp / "headless")]
    results: dict[str, list[float]] = {"direct": [], "api": []}
    with child(fake, env, ollama_port), child(server, env, api_port):
        async with aiohttp.ClientSession() as http:
            for n in range(WARMUP + args.requests):
                message = f"Question number {n}: what is the capital of France?"
                # Alternate which goes first, so neither always meets a warmer cache.
                order = ("direct", "api") if n % 2 else ("api", "direct")
                for kind in order:
                    if kind == "direct":
                        took = await first_token_direct(http, ollama, message)
                    else:
                        took = await first_token_api(http, api, message)
                    if n >= WARMUP:
                        results[kind].append(took)
    return results


async def part2(args: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    from agentic_desktop.app import DesktopApp, create_qt_app
    from server.config import Settings

    ollama_port = free_port()
    ollama = f"http://127.0.0.1:{ollama_port}"
    fake = [
        sys.executable,
        "-m",
        "tests.fakes.ollama",
        "--port",
        str(ollama_port),
        "--token-delay",
        str(1 / TOKENS_PER_SECOND),
        "--reply-words",
        str(args.tokens),
    ]
    results: dict[str, list[float]] = {"idle_qt": [], "idle_asyncio": [], "qt": [], "asyncio": []}
    with child(fake, child_env(), ollama_port):
        settings = Settings(data_dir=tmp / "window", port=free_port(), ollama_host=ollama, api_key=API_KEY)
        desktop = DesktopApp(settings, create_qt_app())
        await desktop.start()
        try:
            window = desktop.window
            assert window is not None
            window.resize(1100, 720)
            window.show()
            window.show_section("chat")
            panel = window.panels["chat"]
            while panel.model_picker.count() == 0:  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
            panel.new_chat_button.click()  # type: ignore[attr-defined]
            while panel._current is None:  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
            for phase in ("idle", "streaming"):
                qt_lag = QtTimerLag()
                asyncio_lag: list[float] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_lag(stop, asyncio_lag))
                qt_lag.start()
                if phase == "idle":
                    await asyncio.sleep(5.0)
                else:
                    started = time.perf_counter()
                    panel.input.setPlainText("Write a long report")  # type: ignore[attr-defined]
                    panel.send_button.click()  # type: ignore[attr-defined]
                    while panel._streaming is None:  # type: ignore[attr-defined]
                        await asyncio.sleep(0.01)
                    while panel._streaming is not None:  # type: ignore[attr-defined]
                        await asyncio.sleep(0.05)
                    results["stream_seconds"] = [time.perf_counter() - started]
                qt_lag.stop()
                stop.set()
                await sampler
                prefix = "idle_" if phase == "idle" else ""
                results[f"{prefix}qt"] = qt_lag.lags
                results[f"{prefix}asyncio"] = asyncio_lag
            shown = panel.view.messages[-1].content  # type: ignore[attr-defined]
            results["tokens_shown"] = [float(len(shown.split()))]
        finally:
            await desktop.shutdown()
    return results


def report(args: argparse.Namespace, one: dict[str, list[float]], two: dict[str, list[float]]) -> None:
    print(f"# chat_overhead  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    if one:
        report_first_token(one)
    if two:
        report_window(args, two)


def report_first_token(one: dict[str, list[float]]) -> None:
    direct, api = summary_ms(one["direct"]), summary_ms(one["api"])
    extra_p50 = api["p50_ms"] - direct["p50_ms"]
    print(f"time to first token, {len(one['api'])} requests each, interleaved:")
    for name, figures in (("straight to Ollama", direct), ("through the API", api)):
        print(
            f"  {name:19s} p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms  "
            f"mean {figures['mean_ms']:6.2f} ms"
        )
    print(
        f"  the API adds {extra_p50:.2f} ms at p50 ({api['p50_ms'] / direct['p50_ms']:.2f}x Ollama's own); "
        f"p99 difference {api['p99_ms'] - direct['p99_ms']:.2f} ms   (budget < 5 ms at p50)"
    )
    diffs = [a - d for a, d in zip(one["api"], one["direct"], strict=True)]
    print(
        f"  paired differences (API - Ollama, same message back to back): median "
        f"{statistics.median(diffs) * 1000:.2f} ms, p90 {percentile(diffs, 90) * 1000:.2f} ms"
    )


def report_window(args: argparse.Namespace, two: dict[str, list[float]]) -> None:
    qt, idle_qt = summary_ms(two["qt"]), summary_ms(two["idle_qt"])
    loop, idle_loop = summary_ms(two["asyncio"]), summary_ms(two["idle_asyncio"])
    seconds = two["stream_seconds"][0]
    print(
        f"Chat panel, a {args.tokens}-token reply streamed at {TOKENS_PER_SECOND} tokens/s "
        f"({seconds:.1f} s, {two['tokens_shown'][0]:.0f} tokens shown):"
    )
    print(
        f"  Qt timer lag      streaming p50 {qt['p50_ms']:.2f} ms  p99 {qt['p99_ms']:.2f} ms  "
        f"max {qt['max_ms']:.2f} ms   idle p99 {idle_qt['p99_ms']:.2f} ms   (budget p99 < 16 ms)"
    )
    print(
        f"  asyncio lag       streaming p50 {loop['p50_ms']:.2f} ms  p99 {loop['p99_ms']:.2f} ms  "
        f"max {loop['max_ms']:.2f} ms   idle p99 {idle_loop['p99_ms']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--part", choices=("1", "2", "both"), default="both")
    args = parser.parse_args()
    from server.runtime import tune_interpreter

    tune_interpreter()
    one: dict[str, list[float]] = {}
    two: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("1", "both"):
            one = asyncio.run(part1(args, Path(tmp)))
        if args.part in ("2", "both"):
            from agentic_desktop.app import create_qt_app
            from agentic_desktop.loop import BatchedQEventLoop

            loop = BatchedQEventLoop(create_qt_app())
            with loop:
                two = loop.run_until_complete(part2(args, Path(tmp)))
    report(args, one, two)


if __name__ == "__main__":
    main()
