"""The Ollama gateway's reachability tracking, against the fake Ollama on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.bus import EventBus
from server.events import OllamaStatusChanged
from server.services.llm import OllamaGateway

if TYPE_CHECKING:
    from server.services.llm import OllamaStatus
    from tests.fakes.ollama import FakeOllama


async def probe_once(fake: FakeOllama, timeout: float = 5.0) -> OllamaStatus:
    gateway = OllamaGateway(fake.url, EventBus(), timeout=timeout)
    try:
        return await gateway.probe()
    finally:
        await gateway.close()


async def test_probe_of_a_running_ollama_counts_its_models(fake_ollama: FakeOllama) -> None:
    status = await probe_once(fake_ollama)
    assert status.reachable
    assert status.models_available == len(fake_ollama.models)
    assert status.checked_at is not None


async def test_probe_of_a_stopped_ollama_says_what_to_do(fake_ollama: FakeOllama) -> None:
    await fake_ollama.stop()
    status = await probe_once(fake_ollama)
    assert not status.reachable
    assert status.detail == (
        f"Ollama is not reachable at {fake_ollama.url}: start it (ollama serve) or change OLLAMA_HOST"
    )


async def test_slow_ollama_is_reported_as_timed_out(fake_ollama: FakeOllama) -> None:
    fake_ollama.delay = 1.0
    status = await probe_once(fake_ollama, timeout=0.2)
    assert not status.reachable
    assert "did not answer in time" in status.detail


async def test_failing_ollama_reports_its_status_code(fake_ollama: FakeOllama) -> None:
    fake_ollama.fail_status = 500
    status = await probe_once(fake_ollama)
    assert not status.reachable
    assert "(500)" in status.detail


async def test_each_change_is_published_once(fake_ollama: FakeOllama) -> None:
    bus = EventBus()
    gateway = OllamaGateway(fake_ollama.url, bus, timeout=5)
    with bus.subscribe(OllamaStatusChanged) as events:
        try:
            await gateway.probe()
            await gateway.probe()
            await fake_ollama.stop()
            await gateway.probe()
            await gateway.probe()
            await fake_ollama.start()
            await gateway.probe()
        finally:
            await gateway.close()
        seen = [(await events.get()).reachable for _ in range(events.pending())]
    assert seen == [True, False, True]
