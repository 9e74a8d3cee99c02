"""The router's budgets (issue 13), against fake Ollama hosts on loopback in this process.

(a) Decision cost: 5 hosts with 50 models each (a few loaded), probed for real; then
    ``Router.decide`` on random models, timed one by one. Budget: p99 < 1 ms.
(b) Throughput: three fake hosts, each serving at most 4 generations at once (the fake's
    ``max_parallel``, and ``max_concurrent_requests`` 4 in the router), each generation taking a
    fixed ~200 ms; the same burst of chat calls through a router over one host, then over the
    three, in the same run. Budget: >= 2.7x the one-host throughput.
(c) Failover: 1,000 chat calls (at most 48 at once) across three hosts while one host is stopped
    after 200 have finished and started again on the same port after 500; the router probes every
    0.2 s. Budget: 0 failed calls.

Usage: python -m benchmarks.routing [--decisions 100000] [--burst 120] [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import time
from datetime import UTC, datetime

from benchmarks.common import machine, percentile
from server.bus import EventBus
from server.services.errors import AgenticError
from server.services.llm import Router, collect
from tests.fakes.ollama import FakeModel, FakeOllama

MODEL = "llama3.2:latest"
HELLO = [{"role": "user", "content": "hello"}]


async def started(fakes: list[FakeOllama]) -> list[FakeOllama]:
    for fake in fakes:
        await fake.start()
    return fakes


async def router_over(fakes: list[FakeOllama], **options: object) -> Router:
    router = Router(EventBus(), default_url=fakes[0].url, timeout=5.0, **options)  # type: ignore[arg-type]
    limit = int(options.get("default_max_concurrent", 4))  # type: ignore[call-overload]
    for index, fake in enumerate(fakes[1:], start=1):
        await router.add_host(f"h{index}", fake.url, max_concurrent_requests=limit)
    await router.probe()
    return router


async def decision_cost(decisions: int) -> dict[str, float]:
    """(a) p50/p99/max of one decision, 5 hosts x 50 models."""
    names = [f"model{n}:7b" for n in range(50)]
    fakes = await started([FakeOllama(models=[FakeModel(name) for name in names]) for _ in range(5)])
    rng = random.Random(13)
    for fake in fakes:
        for name in rng.sample(names, 5):
            fake.loaded[name] = "2099-01-01T00:00:00Z"
    router = await router_over(fakes)
    try:
        assert all(view.state == "healthy" and len(view.models) == 50 for view in router.views())
        wanted = [rng.choice(names) for _ in range(decisions)]
        timings: list[float] = []
        for model in wanted[:2000]:  # warm-up
            router.decide(model, "chat")
        for model in wanted:
            begin = time.perf_counter_ns()
            router.decide(model, "chat")
            timings.append((time.perf_counter_ns() - begin) / 1e9)
    finally:
        await router.close()
        for fake in fakes:
            await fake.stop()
    return {
        "p50_us": percentile(timings, 50) * 1e6,
        "p99_us": percentile(timings, 99) * 1e6,
        "max_us": max(timings) * 1e6,
        "mean_us": statistics.fmean(timings) * 1e6,
    }


async def burst(router: Router, calls: int) -> float:
    """Seconds for ``calls`` chat calls sent at once to finish (all must succeed)."""
    begin = time.perf_counter()
    replies = await asyncio.gather(*(collect(router.chat_stream(MODEL, HELLO)) for _ in range(calls)))
    elapsed = time.perf_counter() - begin
    assert all(reply.text for reply in replies)
    return elapsed


async def throughput(calls: int) -> dict[str, float]:
    """(b) Calls per second through one host, then three, each 4-parallel with ~200 ms generations."""

    def host() -> FakeOllama:
        # 4 tokens, 50 ms before each: ~200 ms per generation.
        return FakeOllama(max_parallel=4, token_delay=0.05, reply_words=4)

    fakes = await started([host(), host(), host()])
    try:
        results = {}
        for label, subset in (("one", fakes[:1]), ("three", fakes)):
            router = await router_over(subset, default_max_concurrent=4, queue_size=calls, queue_timeout=120)
            try:
                await burst(router, 4 * len(subset))  # warm connections
                elapsed = await burst(router, calls)
                results[label] = calls / elapsed
                peak = max(fake.peak_parallel for fake in subset)
                assert peak <= 4, f"a host ran {peak} generations at once"
            finally:
                await router.close()
    finally:
        for fake in fakes:
            await fake.stop()
    return {
        "one_host_rps": results["one"],
        "three_hosts_rps": results["three"],
        "speedup": results["three"] / results["one"],
    }


async def failover(calls: int, concurrency: int = 48) -> dict[str, float]:
    """(c) Failed calls out of ``calls`` while one of three hosts is stopped and started again."""
    fakes = await started([FakeOllama(token_delay=0.002, reply_words=8) for _ in range(3)])
    victim = fakes[1]
    router = await router_over(fakes, default_max_concurrent=16, queue_size=calls, queue_timeout=60)
    watcher = asyncio.create_task(router.watch(0.2))
    done = 0
    failures: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    stopped = asyncio.Event()
    restarted = asyncio.Event()

    async def one() -> None:
        nonlocal done
        async with gate:
            try:
                await collect(router.chat_stream(MODEL, HELLO, purpose="chat"))
            except AgenticError as exc:
                failures.append(str(exc))
            done += 1
            if done == 200:
                stopped.set()
            if done == 500:
                restarted.set()

    async def chaos() -> None:
        await stopped.wait()
        await victim.stop()
        await restarted.wait()
        await victim.start(port=victim.port)

    begin = time.perf_counter()
    chaos_task = asyncio.create_task(chaos())
    try:
        await asyncio.gather(*(one() for _ in range(calls)))
        await chaos_task
        elapsed = time.perf_counter() - begin
        stats = router.stats()
        served = {host["id"]: host["requests"] for host in stats["backends"]}
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await router.close()
        for fake in fakes:
            await fake.stop()
    return {
        "calls": calls,
        "failed": len(failures),
        "failovers": stats["failovers"],
        "seconds": elapsed,
        "served_default": served["default"],
        "served_h1_victim": served["h1"],
        "served_h2": served["h2"],
        "first_failure": failures[0] if failures else "",
    }


async def run(args: argparse.Namespace) -> None:
    print(f"# routing  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    cost = await decision_cost(args.decisions)
    print(
        f"(a) routing decision, 5 hosts x 50 models, {args.decisions} decisions: "
        f"p50 {cost['p50_us']:.1f} us, p99 {cost['p99_us']:.1f} us, max {cost['max_us']:.1f} us "
        f"(budget p99 < 1000 us: {'ok' if cost['p99_us'] < 1000 else 'MISSED'})"
    )
    speed = await throughput(args.burst)
    print(
        f"(b) {args.burst} chat calls at once, hosts 4-parallel, ~200 ms generations: one host "
        f"{speed['one_host_rps']:.1f} calls/s, three hosts {speed['three_hosts_rps']:.1f} calls/s, "
        f"{speed['speedup']:.2f}x (budget >= 2.7x: {'ok' if speed['speedup'] >= 2.7 else 'MISSED'})"
    )
    chaos = await failover(args.calls)
    print(
        f"(c) {chaos['calls']} chat calls, one of three hosts stopped and restarted: "
        f"{chaos['failed']} failed, {chaos['failovers']} moved to another host before their first token, "
        f"{chaos['seconds']:.1f} s; served default/h1 (stopped)/h2 = {chaos['served_default']}/"
        f"{chaos['served_h1_victim']}/{chaos['served_h2']} (budget 0 failed: "
        f"{'ok' if chaos['failed'] == 0 else 'MISSED: ' + str(chaos['first_failure'])})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=120)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
