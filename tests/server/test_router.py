"""The router over several fake Ollama hosts on loopback: choice, failover, breaker, queue, events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from server.api.app import create_app
from server.backend import Backend
from server.bus import EventBus
from server.events import HostStateChanged, ModelCallFinished, RoutingDecision
from server.services.errors import DependencyDown, RateLimited
from server.services.llm import Router, collect
from tests.fakes.ollama import FakeModel, FakeOllama

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from aiohttp.test_utils import TestClient

    from server.config import Settings

MODEL = "llama3.2:latest"
HELLO = [{"role": "user", "content": "hello"}]


class Clock:
    """A clock the test moves (the breakers' cool-down without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeOllama]]:
    started = [FakeOllama(), FakeOllama(), FakeOllama()]
    for fake in started:
        await fake.start()
    yield started
    for fake in started:
        await fake.stop()


@contextlib.asynccontextmanager
async def router_over(
    fakes: list[FakeOllama], bus: EventBus | None = None, **options: Any
) -> AsyncIterator[Router]:
    """A router with ``fakes[0]`` as the settings' host and the others registered as h1, h2..."""
    router = Router(bus or EventBus(), default_url=fakes[0].url, timeout=5.0, **options)
    try:
        for index, fake in enumerate(fakes[1:], start=1):
            await router.add_host(
                f"h{index}", fake.url, max_concurrent_requests=options.get("default_max_concurrent", 4)
            )
        await router.probe()
        yield router
    finally:
        await router.close()


def served(fake: FakeOllama) -> int:
    return sum(1 for _, path, _ in fake.requests if path in ("/api/chat", "/api/generate"))


async def until(condition: Callable[[], bool], deadline: float = 5.0) -> None:
    """Wait (polling the loop) until ``condition`` holds; fail after ``deadline`` seconds."""
    end = asyncio.get_running_loop().time() + deadline
    while not condition():
        assert asyncio.get_running_loop().time() < end, "condition never held"
        await asyncio.sleep(0.005)


async def test_the_host_with_the_model_loaded_is_preferred(fakes: list[FakeOllama]) -> None:
    fakes[2].loaded[MODEL] = "2099-01-01T00:00:00Z"
    async with router_over(fakes) as router:
        choice = router.decide(MODEL, "chat")
        assert choice.host is not None
        assert choice.host.id == "h2"
        assert "loaded" in choice.reason
        reply = await collect(router.chat_stream(MODEL, HELLO))
    assert reply.text.startswith("Reply from")
    assert (served(fakes[0]), served(fakes[1]), served(fakes[2])) == (0, 0, 1)


async def test_only_hosts_that_have_the_model_are_chosen(fakes: list[FakeOllama]) -> None:
    fakes[0].models = [FakeModel("qwen2.5:7b")]
    fakes[1].models = [FakeModel("qwen2.5:7b")]
    async with router_over(fakes) as router:
        await collect(router.chat_stream(MODEL, HELLO))
        assert router.decide("qwen2.5:7b").host is not None
    assert served(fakes[2]) == 1
    assert served(fakes[0]) == served(fakes[1]) == 0


async def test_calls_spread_to_the_host_with_the_fewest_in_flight(fakes: list[FakeOllama]) -> None:
    for fake in fakes:
        fake.token_delay = 0.05
        fake.reply_words = 40
    async with router_over(fakes) as router:
        streams = [router.chat_stream(MODEL, HELLO) for _ in range(3)]
        for stream in streams:
            await anext(stream)  # each holds its host while it streams
        assert [view.in_flight for view in router.views()] == [1, 1, 1]
        for fake in fakes:
            fake.token_delay = 0
        for stream in streams:
            await stream.aclose()
        assert [view.in_flight for view in router.views()] == [0, 0, 0]
    assert [served(fake) for fake in fakes] == [1, 1, 1]


async def test_a_stopped_host_loses_no_call_that_had_not_started(fakes: list[FakeOllama]) -> None:
    bus = EventBus()
    with bus.subscribe(RoutingDecision, HostStateChanged, maxsize=10_000) as events:
        async with router_over(fakes[:2], bus) as router:
            await fakes[0].stop()  # between probes: the router still thinks it healthy
            replies = await asyncio.gather(*(collect(router.chat_stream(MODEL, HELLO)) for _ in range(12)))
            assert all(reply.text.startswith("Reply from") for reply in replies)
            assert router.stats()["failovers"] >= 1
            assert router.views()[0].state == "down"
            assert "not reachable" in router.views()[0].reason
        seen = [await events.get() for _ in range(events.pending())]
    assert any(isinstance(e, RoutingDecision) and e.attempt > 1 and e.host_id == "h1" for e in seen)
    assert any(isinstance(e, HostStateChanged) and e.host_id == "default" and e.state == "down" for e in seen)


async def test_a_host_killed_while_calls_run_fails_only_calls_that_had_begun(
    fakes: list[FakeOllama],
) -> None:
    for fake in fakes[:2]:
        fake.token_delay = 0.01
        fake.reply_words = 30
    async with router_over(fakes[:2], default_max_concurrent=2, queue_size=100) as router:
        began: list[bool] = []

        async def one() -> str:
            index = len(began)
            began.append(False)
            parts = []
            async for chunk in router.chat_stream(MODEL, HELLO):
                began[index] = True
                parts.append(chunk.text)
            return "".join(parts)

        calls = [asyncio.create_task(one()) for _ in range(16)]
        await until(lambda: served(fakes[0]) >= 2)
        await fakes[0].stop()
        results = await asyncio.gather(*calls, return_exceptions=True)
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            assert isinstance(result, DependencyDown), result
            assert began[index], "a call that had not started streaming failed"
            assert "broke off after it began" in str(result)
    assert sum(not isinstance(result, BaseException) for result in results) >= 14


async def test_a_failure_mid_stream_raises_and_is_not_retried(fakes: list[FakeOllama]) -> None:
    fakes[0].replies.append("one two three four five")
    fakes[0].cut_stream_after = 2
    fakes[1].models = []
    async with router_over(fakes[:2]) as router:
        with pytest.raises(DependencyDown, match="broke off after it began"):
            await collect(router.chat_stream(MODEL, HELLO))
    assert served(fakes[1]) == 0


async def test_the_breaker_opens_then_a_half_open_trial_closes_it(fakes: list[FakeOllama]) -> None:
    clock = Clock()
    fake = fakes[0]
    async with router_over([fake], breaker_threshold=2, breaker_reset=30.0, clock=clock) as router:
        fake.fail_status = 500
        for _ in range(2):
            with pytest.raises(DependencyDown, match="answered with an error"):
                await collect(router.chat_stream(MODEL, HELLO))
        assert router.views()[0].breaker == "open"
        assert router.views()[0].state in ("degraded", "down")
        before = served(fake)
        with pytest.raises(DependencyDown, match="circuit breaker open"):
            await collect(router.chat_stream(MODEL, HELLO))
        assert served(fake) == before  # refused without calling the host
        fake.fail_status = None
        clock.now += 31  # the cool-down is over: the next call is the half-open trial
        reply = await collect(router.chat_stream(MODEL, HELLO))
        assert reply.text
        assert router.views()[0].breaker == "closed"
        await router.probe()
        assert router.views()[0].state == "healthy"


async def test_an_idle_host_recovers_through_the_probe(fakes: list[FakeOllama]) -> None:
    clock = Clock()
    async with router_over(fakes[:2], breaker_threshold=1, breaker_reset=10.0, clock=clock) as router:
        fakes[0].fail_status = 500
        await collect(router.chat_stream(MODEL, HELLO))  # fails on default, served by h1
        assert router.views()[0].breaker == "open"
        fakes[0].fail_status = None
        clock.now += 11
        await router.probe()  # the probe is the trial
        assert router.views()[0].breaker == "closed"
        assert router.views()[0].state == "healthy"


async def test_a_full_queue_is_rate_limited(fakes: list[FakeOllama]) -> None:
    fake = fakes[0]
    fake.token_delay = 0.05
    fake.reply_words = 100
    async with router_over([fake], default_max_concurrent=1, queue_size=1, queue_timeout=30) as router:
        holder = router.chat_stream(MODEL, HELLO)
        await anext(holder)
        waiting = asyncio.create_task(collect(router.chat_stream(MODEL, HELLO)))
        await until(lambda: router.queue_length == 1)
        with pytest.raises(RateLimited) as refused:
            await collect(router.chat_stream(MODEL, HELLO))
        assert refused.value.retry_after >= 1
        fake.token_delay = 0
        await holder.aclose()
        assert (await waiting).text  # the queued call got the freed slot
        assert router.stats()["rejected_requests"] == 1


async def test_a_wait_past_the_queue_timeout_is_rate_limited(fakes: list[FakeOllama]) -> None:
    fake = fakes[0]
    fake.token_delay = 0.05
    fake.reply_words = 100
    async with router_over([fake], default_max_concurrent=1, queue_size=5, queue_timeout=0.05) as router:
        holder = router.chat_stream(MODEL, HELLO)
        await anext(holder)
        with pytest.raises(RateLimited, match="stayed busy"):
            await collect(router.chat_stream(MODEL, HELLO))
        fake.token_delay = 0
        await holder.aclose()


async def test_every_call_publishes_model_call_finished(fakes: list[FakeOllama]) -> None:
    bus = EventBus()
    with bus.subscribe(ModelCallFinished) as events:
        async with router_over(fakes[:1], bus) as router:
            await collect(router.generate_stream(MODEL, "hello there", purpose="task"))
            await router.embed("nomic-embed-text", ["a text"], purpose="embedding")
        first, second = await events.get(), await events.get()
    assert (first.kind, first.purpose, first.host_id, first.ok) == ("generate", "task", "default", True)
    assert first.completion_tokens > 0
    assert first.tokens_per_second > 0
    assert first.first_token_s is not None
    assert (second.kind, second.purpose, second.ok, second.model) == (
        "embed",
        "embedding",
        True,
        "nomic-embed-text:latest",
    )


async def test_a_decision_stays_well_under_a_millisecond(fakes: list[FakeOllama]) -> None:
    async with router_over(fakes) as router:
        for _ in range(2000):
            router.decide(MODEL, "chat")
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(2000):
            router.decide(MODEL, "chat")
        assert (loop.time() - start) / 2000 < 0.001


# -- through the API --


@pytest.fixture
async def two_host_client(
    aiohttp_client: Any, settings: Settings, fakes: list[FakeOllama]
) -> AsyncIterator[tuple[TestClient, Backend]]:
    backend = Backend(settings.model_copy(update={"ollama_host": fakes[0].url}))
    await backend.start()
    try:
        await backend.router.add_host("second", fakes[1].url)
        yield await aiohttp_client(create_app(backend)), backend
    finally:
        await backend.stop()


async def test_chat_streaming_cut_mid_reply_ends_with_an_error_event(
    two_host_client: tuple[TestClient, Backend], fakes: list[FakeOllama], auth_headers: dict[str, str]
) -> None:
    client, _ = two_host_client
    resp = await client.post(
        "/api/v1/chat/sessions",
        json={"session_type": "general", "model_name": MODEL, "title": "t"},
        headers=auth_headers,
    )
    session = await resp.json()
    for fake in fakes[:2]:
        fake.replies.append("one two three four five")
        fake.cut_stream_after = 2
    resp = await client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"message": "stream please", "stream": True},
        headers=auth_headers,
    )
    assert resp.status == 200
    text = (await resp.read()).decode()
    blocks = [block for block in text.strip().split("\n\n") if block]
    last = dict(line.split(": ", 1) for line in blocks[-1].splitlines())
    assert last["event"] == "error"
    assert "broke off" in json.loads(last["data"])["detail"]
    assert any(block.startswith("event: token") for block in blocks)


async def test_a_full_queue_answers_429_with_retry_after(
    aiohttp_client: Any, settings: Settings, fake_ollama: FakeOllama, auth_headers: dict[str, str]
) -> None:
    backend = Backend(
        settings.model_copy(
            update={"ollama_max_concurrent": 1, "router_queue_size": 1, "router_queue_timeout": 30}
        )
    )
    await backend.start()
    try:
        client = await aiohttp_client(create_app(backend))
        fake_ollama.token_delay = 0.05
        fake_ollama.reply_words = 100
        body = {"model": MODEL, "messages": HELLO}
        first = asyncio.create_task(client.post("/v1/chat/completions", json=body, headers=auth_headers))
        await until(lambda: backend.router.views()[0].in_flight == 1)
        second = asyncio.create_task(client.post("/v1/chat/completions", json=body, headers=auth_headers))
        await until(lambda: backend.router.queue_length == 1)
        refused = await client.post("/v1/chat/completions", json=body, headers=auth_headers)
        assert refused.status == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "busy" in (await refused.json())["error"]["message"]
        fake_ollama.token_delay = 0
        assert (await first).status == 200
        assert (await second).status == 200
    finally:
        await backend.stop()
