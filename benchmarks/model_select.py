"""How long ``POST /api/v1/models/select`` takes with 5 hosts and 50 models (budget: p99 < 5 ms).

Five fake Ollama hosts on loopback (127.0.0.1-5) serve 50 models between them (each on one to
three hosts, a few of them vision, tools or embedding models). A headless backend in this process
routes over the five; the registry reads them once, and 30 models get recorded calls so the
scores use performance figures, not only priors. Then, interleaved in the same run:

- the references: one ``GET /api/tags`` straight to a fake host over loopback HTTP (the least a
  selection that read the hosts would cost), and ``GET /api/v1/health`` through the same API (what
  any request costs there) and ``GET /api/v1/models/performance?limit=5`` (an authenticated,
  rate-counted request of the same API);
- ``ModelRegistry.select`` called in-process (the service alone);
- ``POST /api/v1/models/select`` through the API (HTTP, auth, parsing, serialization).

Each alternates speed / quality / vision / a tools+context requirement, so the fast path is not a
single cached answer. The app's own time for each request (outermost middleware to response) is
measured too, apart from the client and the loopback transport (client and server share this
process and its loop). Reported: p50/p99 of each, the API's p99 against the budget, and its p50
against the health request's p50 (what selection adds to the API's own cost).

The API allows 1,200 requests a minute per caller (the security policy's rate limit), so one run
sends at most 1,100 through it (select and health together).

Usage: python -m benchmarks.model_select [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from aiohttp import web

from benchmarks.common import API_KEY, machine, summary_ms

HOSTS = 5
MODELS = 50
WARMUP = 50
BODIES = (
    {"priority": "speed"},
    {"priority": "quality", "task_type": "task"},
    {"content_type": "image", "priority": "balanced"},
    {"requirements": {"capabilities": ["tools"], "min_context_length": 8000}, "priority": "quality"},
)


def fake_models(index: int) -> list[object]:
    """Model ``index`` of 50: sizes from 0.5B to 70B, some vision/tools/embedding ones."""
    from tests.fakes.ollama import FakeModel

    billions = [0.5, 1.5, 3.2, 7.0, 8.0, 13.0, 14.0, 32.0, 70.0][index % 9]
    capabilities: tuple[str, ...] = ("completion",)
    if index % 7 == 0:
        capabilities = ("completion", "vision")
    elif index % 5 == 0:
        capabilities = ("completion", "tools")
    elif index % 11 == 0:
        capabilities = ("embedding",)
    return [
        FakeModel(
            f"family{index}/model{index}:{billions:g}b",
            parameter_size=f"{billions:g}B",
            size=int(billions * 0.6e9),
            capabilities=capabilities,
            context_length=4096 * (1 + index % 4),
        )
    ]


SERVER_TIMES: dict[str, list[float]] = {}


@web.middleware
async def server_timer(request: Any, handler: Any) -> Any:
    """Seconds the app spends on a request, from the first middleware to the response."""
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        SERVER_TIMES.setdefault(request.path, []).append(time.perf_counter() - started)


async def run(requests: int) -> None:
    import aiohttp
    from aiohttp.test_utils import TestServer

    from server.api.app import create_app
    from server.backend import Backend
    from server.config import Settings
    from server.events import ModelCallFinished
    from server.services.model_registry import Requirements, SelectionRequest
    from tests.fakes.ollama import FakeOllama

    fakes = [FakeOllama(models=[]) for _ in range(HOSTS)]
    for index in range(MODELS):
        (model,) = fake_models(index)
        for copy in range(1 + index % 3):
            fakes[(index + copy) % HOSTS].models.append(model)  # type: ignore[arg-type]
    for number, fake in enumerate(fakes, start=1):
        await fake.start(host=f"127.0.0.{number}")
    urls = [f"http://127.0.0.{n}:{fake.port}" for n, fake in enumerate(fakes, start=1)]

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            port=0,
            ollama_host=urls[0],
            api_key=API_KEY,
            admin_user="operator",
            admin_password="benchmark-password",
        )
        backend = Backend(settings)
        await backend.start()
        app = create_app(backend)
        app.middlewares.insert(0, server_timer)  # outermost: every middleware and the handler
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            for number, url in enumerate(urls[1:], start=2):
                await backend.router.add_host(f"host{number}", url)
            registry = backend.model_registry
            report = await registry.refresh()
            assert report.total == MODELS, report
            assert not report.failed_hosts, report.failed_hosts
            names = sorted(model.name for model in (await registry.available())[0])
            for n, name in enumerate(names[:30]):
                for purpose in ("chat", "task"):
                    backend.bus.publish(
                        ModelCallFinished(
                            model=name,
                            host_id="default",
                            kind="chat",
                            purpose=purpose,
                            ok=n % 6 != 0,
                            duration_s=0.2 + n * 0.05,
                            first_token_s=0.05,
                            completion_tokens=100,
                            tokens_per_second=20.0 + n,
                        )
                    )
            while backend.model_performance.recorded < 60:
                await asyncio.sleep(0.01)

            requests_in = [
                SelectionRequest(priority="speed"),
                SelectionRequest(priority="quality", task_type="task"),
                SelectionRequest(content_type="image"),
                SelectionRequest(
                    priority="quality",
                    requirements=Requirements(capabilities=frozenset({"tools"}), min_context_length=8000),
                ),
            ]
            api = f"http://127.0.0.1:{server.port}/api/v1/models/select"
            headers = {"Authorization": f"Bearer {API_KEY}"}
            health_url = f"http://127.0.0.1:{server.port}/api/v1/health"
            perf_url = f"http://127.0.0.1:{server.port}/api/v1/models/performance?limit=5"
            reference: list[float] = []
            health: list[float] = []
            authed: list[float] = []
            service: list[float] = []
            through_api: list[float] = []
            async with aiohttp.ClientSession() as http:
                for i in range(WARMUP + requests):
                    started = time.perf_counter()
                    async with http.get(f"{urls[i % HOSTS]}/api/tags") as resp:
                        await resp.read()
                    tags = time.perf_counter() - started

                    started = time.perf_counter()
                    async with http.get(health_url) as resp:
                        await resp.read()
                    plain = time.perf_counter() - started

                    started = time.perf_counter()
                    async with http.get(perf_url, headers=headers) as resp:
                        await resp.read()
                    counted = time.perf_counter() - started

                    started = time.perf_counter()
                    await registry.select(requests_in[i % len(requests_in)])
                    direct = time.perf_counter() - started

                    started = time.perf_counter()
                    async with http.post(api, json=BODIES[i % len(BODIES)], headers=headers) as resp:
                        await resp.read()
                        assert resp.status == 200, await resp.text()
                    routed = time.perf_counter() - started
                    if i >= WARMUP:
                        reference.append(tags)
                        health.append(plain)
                        authed.append(counted)
                        service.append(direct)
                        through_api.append(routed)
        finally:
            await server.close()
            await backend.stop()
            for fake in fakes:
                await fake.stop()

    ref, svc, api_ms = summary_ms(reference), summary_ms(service), summary_ms(through_api)
    plain, counted = summary_ms(health), summary_ms(authed)
    print(f"# model_select — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}")
    print(f"{HOSTS} hosts, {MODELS} models, 30 with recorded calls, {requests} requests each")
    print(f"reference GET /api/tags (loopback): p50 {ref['p50_ms']:.3f} ms  p99 {ref['p99_ms']:.3f} ms")
    print(f"reference GET /api/v1/health:       p50 {plain['p50_ms']:.3f} ms  p99 {plain['p99_ms']:.3f} ms")
    print(f"reference GET /models/performance:  p50 {counted['p50_ms']:.3f} ms  p99 {counted['p99_ms']:.3f}")
    print(f"ModelRegistry.select (in-process):  p50 {svc['p50_ms']:.3f} ms  p99 {svc['p99_ms']:.3f} ms")
    print(
        f"POST /api/v1/models/select:        p50 {api_ms['p50_ms']:.3f} ms  p99 {api_ms['p99_ms']:.3f} ms"
        f"  max {api_ms['max_ms']:.3f} ms"
    )
    inside = summary_ms(SERVER_TIMES["/api/v1/models/select"][WARMUP:])
    print(
        f"  of which inside the app (all middleware + handler): p50 {inside['p50_ms']:.3f} ms"
        f"  p99 {inside['p99_ms']:.3f} ms"
    )
    verdict = "met" if api_ms["p99_ms"] < 5.0 else "NOT met"
    print(f"API p99 {api_ms['p99_ms']:.3f} ms vs budget 5 ms: {verdict}")
    print(f"select p50 / health p50 (same API): {api_ms['p50_ms'] / plain['p50_ms']:.2f}x")
    print(f"select p50 / performance p50 (authenticated): {api_ms['p50_ms'] / counted['p50_ms']:.2f}x")
    print(f"service p50 / loopback /api/tags p50: {svc['p50_ms'] / ref['p50_ms']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="at most 500 (the API's rate limit)")
    args = parser.parse_args()
    if not 1 <= args.requests <= 500:
        parser.error("--requests must be between 1 and 500: the API allows 1,200 requests a minute")
    asyncio.run(run(args.requests))


if __name__ == "__main__":
    main()
