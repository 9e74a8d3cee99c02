"""Tasks, logs and WebSockets under load.

Part 1 (fan-out): the window runs in this process (offscreen) with 8 tasks streaming tokens from a
fake Ollama; 50 WebSocket clients in another process subscribe to /ws/logs; 10,000 log entries are
published. Every client must receive all 10,000 in order; the window's loop lag is sampled meanwhile
(Qt timer lateness, and asyncio callback lateness).

Part 2 (queue): a headless backend with 100,000 tasks in its database. Queueing 1,000 tasks, and
listing GET /api/v1/tasks?limit=50, each timed in the service and through the HTTP API, beside the
bare SQLite statements that do the same (one INSERT + commit; the same SELECT) in the same run.

Usage: python benchmarks/tasks_fanout.py [--part fanout|queue|both] [--clients 50] [--entries 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks.common import API_KEY, child, child_env, free_port, machine, percentile, summary_ms
from benchmarks.loop_lag import QtTimerLag, sample_lag

MARKER = "bench entry "
STREAMING_TASKS = 8
PUBLISH_CHUNK = 25  # entries published per loop turn
PUBLISH_PAUSE = 0.01  # seconds between chunks: about 2,500 entries a second


async def fanout(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Part 1, on the window's loop."""
    from agentic_desktop.app import DesktopApp, create_qt_app
    from server.config import Settings
    from server.services.agents import AgentDraft
    from server.services.task_types import GenerateInput

    ollama_port = free_port()
    env = child_env()
    fake_cmd = [
        sys.executable,
        "-m",
        "tests.fakes.ollama",
        "--port",
        str(ollama_port),
        "--token-delay",
        "0.02",
        "--reply-words",
        "1500",  # 30 s of tokens: the tasks stream all through the measurement
    ]
    with child(fake_cmd, env, ollama_port):
        port = free_port()
        settings = Settings(
            data_dir=tmp / "window",
            port=port,
            ollama_host=f"http://127.0.0.1:{ollama_port}",
            api_key=API_KEY,
            admin_password="benchmark-password",
        )
        desktop = DesktopApp(settings, create_qt_app())
        await desktop.start()
        backend = desktop.backend
        assert backend is not None
        try:
            agent = await backend.agents.create(AgentDraft(name="Streamer", model_name="llama3.2:latest"))
            for n in range(STREAMING_TASKS):
                await backend.tasks.run(agent.id, GenerateInput(type="generate", prompt=f"stream {n} " * 20))
            clients = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).with_name("ws_clients.py")),
                f"http://127.0.0.1:{port}",
                API_KEY,
                str(args.clients),
                str(args.entries),
                "120",
                stdout=asyncio.subprocess.PIPE,
            )
            assert clients.stdout is not None
            assert (await clients.stdout.readline()).strip() == b"ready"
            while backend.tasks.active_count < STREAMING_TASKS:
                await asyncio.sleep(0.05)
            running = backend.tasks.active_count

            lags: list[float] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_lag(stop, lags))
            qt_lag = QtTimerLag()
            qt_lag.start()
            started = time.monotonic()
            for n in range(args.entries):
                backend.logs.record("info", f"{MARKER}{n}", source="benchmark", agent_id=agent.id)
                if n % PUBLISH_CHUNK == PUBLISH_CHUNK - 1:
                    await asyncio.sleep(PUBLISH_PAUSE)
            published = time.monotonic() - started
            output, _ = await clients.communicate()
            delivered = time.monotonic() - started
            qt_lag.stop()
            stop.set()
            await sampler
            results = json.loads(output.decode().strip().splitlines()[-1])
            still_running = backend.tasks.active_count
        finally:
            await desktop.shutdown()
    return {
        "running_tasks": running,
        "still_running": still_running,
        "published_s": published,
        "delivered_s": delivered,
        "complete_clients": sum(r["received"] == args.entries for r in results),
        "clients": len(results),
        "out_of_order": sum(r["out_of_order"] for r in results),
        "min_received": min(r["received"] for r in results),
        "asyncio_lag": summary_ms(lags),
        "qt_lag": summary_ms(qt_lag.lags),
    }


def seed_tasks(db: Path, count: int) -> str:
    """``count`` finished tasks of one agent, written straight into the database."""
    connection = sqlite3.connect(db)
    agent_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    connection.execute(
        "INSERT INTO agents (id, name, description, model_name, agent_type, config, is_active, created_at,"
        " updated_at) VALUES (?, 'Seeded', '', 'llama3.2:latest', NULL, '{}', 1, ?, ?)",
        (agent_id, now, now),
    )
    rows = [
        (
            str(uuid.uuid4()),
            agent_id,
            "generate",
            "completed",
            '{"type": "generate", "prompt": "x"}',
            '{"type": "generate", "response": "y"}',
            100,
            datetime.fromtimestamp(now.timestamp() - count + i, UTC),
        )
        for i in range(count)
    ]
    connection.executemany(
        "INSERT INTO tasks (id, agent_id, task_type, status, input, output, progress, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return agent_id


def bare_sqlite(db: Path, agent_id: str, runs: int) -> dict[str, list[float]]:
    """The reference: the same INSERT (+ commit) and the same SELECT with sqlite3, no framework."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    inserts, selects = [], []
    for _ in range(runs):
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute(
            "INSERT INTO tasks (id, agent_id, task_type, status, input, progress, created_at)"
            " VALUES (?, ?, 'generate', 'cancelled', '{}', 0, ?)",
            (str(uuid.uuid4()), agent_id, datetime.now(UTC)),
        )
        connection.execute("COMMIT")
        inserts.append(time.perf_counter() - started)
        started = time.perf_counter()
        connection.execute("SELECT * FROM tasks ORDER BY created_at DESC, id DESC LIMIT 50").fetchall()
        selects.append(time.perf_counter() - started)
    connection.close()
    return {"insert": inserts, "select": selects}


async def bare_aiosqlite(db: Path, agent_id: str, runs: int) -> dict[str, list[float]]:
    """The same statements through aiosqlite alone: the floor under any aiosqlite-based stack
    (every statement is a round trip to the driver's thread)."""
    import aiosqlite

    inserts, selects = [], []
    async with aiosqlite.connect(db, isolation_level=None) as connection:
        for _ in range(runs):
            started = time.perf_counter()
            await connection.execute("BEGIN")
            await connection.execute(
                "INSERT INTO tasks (id, agent_id, task_type, status, input, progress, created_at)"
                " VALUES (?, ?, 'generate', 'cancelled', '{}', 0, ?)",
                (str(uuid.uuid4()), agent_id, datetime.now(UTC)),
            )
            await connection.execute("COMMIT")
            inserts.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with connection.execute(
                "SELECT * FROM tasks ORDER BY created_at DESC, id DESC LIMIT 50"
            ) as rows:
                await rows.fetchall()
            selects.append(time.perf_counter() - started)
    return {"insert": inserts, "select": selects}


async def queue(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Part 2, on a plain asyncio loop, headless."""
    import aiohttp

    from server.api.site import ApiServer
    from server.backend import Backend
    from server.config import Settings
    from server.services.task_types import GenerateInput

    ollama_port = free_port()
    fake_cmd = [
        sys.executable,
        "-m",
        "tests.fakes.ollama",
        "--port",
        str(ollama_port),
        "--token-delay",
        "1.0",
    ]
    data = tmp / "headless"
    with child(fake_cmd, child_env(), ollama_port):
        settings = Settings(
            data_dir=data,
            port=free_port(),
            ollama_host=f"http://127.0.0.1:{ollama_port}",
            api_key=API_KEY,
            admin_password="benchmark-password",
            log_level="WARNING",
        )
        first = Backend(settings)
        await first.start()  # creates and migrates the database
        await first.stop()
        agent_id = seed_tasks(data / "agentic.db", args.tasks_in_db)
        reference = bare_sqlite(data / "agentic.db", agent_id, 200)
        floor = await bare_aiosqlite(data / "agentic.db", agent_id, 200)

        backend = Backend(settings)
        await backend.start()
        api = ApiServer(backend)
        url = await api.start()
        try:
            service_queue, api_queue, service_list, api_list = [], [], [], []
            task_input = GenerateInput(type="generate", prompt="queued")
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with aiohttp.ClientSession() as session:
                for n in range(args.queued):
                    started = time.perf_counter()
                    if n % 2:
                        await backend.tasks.run(agent_id, task_input)
                        service_queue.append(time.perf_counter() - started)
                    else:
                        body = {"agent_id": agent_id, "input": {"type": "generate", "prompt": "queued"}}
                        async with session.post(
                            f"{url}/api/v1/tasks/run", json=body, headers=headers
                        ) as resp:
                            assert resp.status == 202, await resp.text()
                            await resp.read()
                        api_queue.append(time.perf_counter() - started)
                for _ in range(200):
                    started = time.perf_counter()
                    await backend.tasks.list(limit=50)
                    service_list.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    async with session.get(f"{url}/api/v1/tasks", params={"limit": "50"}) as resp:
                        assert len(await resp.json()) == 50
                    api_list.append(time.perf_counter() - started)
            queued = backend.tasks.queued_count
        finally:
            await api.stop()
            await backend.stop()
    return {
        "queued_waiting": queued,
        "service_queue": service_queue,
        "api_queue": api_queue,
        "service_list": service_list,
        "api_list": api_list,
        **{f"bare_{key}": value for key, value in reference.items()},
        **{f"aiosqlite_{key}": value for key, value in floor.items()},
    }


def p99_ms(samples: list[float]) -> float:
    return percentile(samples, 99) * 1000


def report(args: argparse.Namespace, fan: dict[str, Any] | None, que: dict[str, Any] | None) -> None:
    print(f"# tasks_fanout  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    if fan:
        print(
            f"fan-out: {fan['running_tasks']} tasks streaming ({fan['still_running']} still at the end), "
            f"{fan['clients']} clients on /ws/logs, "
            f"{args.entries} entries published in {fan['published_s']:.1f} s, all delivered after "
            f"{fan['delivered_s']:.1f} s"
        )
        print(
            f"  clients with all {args.entries} entries: {fan['complete_clients']}/{fan['clients']} "
            f"(fewest received {fan['min_received']}); out-of-order deliveries: {fan['out_of_order']}"
        )
        qt, aio = fan["qt_lag"], fan["asyncio_lag"]
        print(
            f"  window Qt timer lag:  p50 {qt['p50_ms']:.2f} ms  p99 {qt['p99_ms']:.2f} ms"
            f"  max {qt['max_ms']:.2f} ms   (budget p99 < 16 ms)"
        )
        print(
            f"  window asyncio lag:   p50 {aio['p50_ms']:.2f} ms  p99 {aio['p99_ms']:.2f} ms"
            f"  max {aio['max_ms']:.2f} ms"
        )
    if que:
        bare_insert, bare_select = p99_ms(que["bare_insert"]), p99_ms(que["bare_select"])
        print(
            f"queue: {args.queued} tasks queued ({que['queued_waiting']} still waiting) onto "
            f"{args.tasks_in_db:,} tasks in SQLite"
        )
        print(
            f"  bare sqlite3 INSERT+COMMIT p99 {bare_insert:.3f} ms;"
            f"  SELECT ... LIMIT 50 p99 {bare_select:.3f} ms"
        )
        floor_insert, floor_select = p99_ms(que["aiosqlite_insert"]), p99_ms(que["aiosqlite_select"])
        print(
            f"  bare aiosqlite INSERT+COMMIT p99 {floor_insert:.3f} ms;"
            f"  SELECT ... LIMIT 50 p99 {floor_select:.3f} ms"
        )
        for label, key, bare, floor, budget in (
            ("queue a task (service)", "service_queue", bare_insert, floor_insert, "< 2 ms"),
            ("queue a task (HTTP API)", "api_queue", bare_insert, floor_insert, "< 2 ms"),
            ("list 50 tasks (service)", "service_list", bare_select, floor_select, "< 20 ms"),
            ("list 50 tasks (HTTP API)", "api_list", bare_select, floor_select, "< 20 ms"),
        ):
            value = p99_ms(que[key])
            print(
                f"  {label:26s} p50 {percentile(que[key], 50) * 1000:6.2f} ms  p99 {value:7.3f} ms"
                f" = {value / bare:5.1f}x bare sqlite3, {value / floor:4.1f}x bare aiosqlite"
                f"   (budget {budget})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["fanout", "queue", "both"], default="both")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--tasks-in-db", type=int, default=100_000)
    args = parser.parse_args()
    from server.runtime import tune_interpreter

    tune_interpreter()  # as both entry points do
    fan = que = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("fanout", "both"):
            from agentic_desktop.app import create_qt_app
            from agentic_desktop.loop import BatchedQEventLoop

            loop = BatchedQEventLoop(create_qt_app())
            with loop:
                fan = loop.run_until_complete(fanout(args, Path(tmp)))
        if args.part in ("queue", "both"):
            que = asyncio.run(queue(args, Path(tmp)))
    report(args, fan, que)


if __name__ == "__main__":
    main()
