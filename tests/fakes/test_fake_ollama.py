"""The fake speaks Ollama's protocol: checked with the official ollama client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ollama
import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.fakes.ollama import FakeOllama


@pytest.fixture
async def ollama_client(fake_ollama: FakeOllama) -> AsyncIterator[ollama.AsyncClient]:
    client = ollama.AsyncClient(host=fake_ollama.url, timeout=5)
    yield client
    await client.close()


async def test_lists_installed_models_with_details(ollama_client: ollama.AsyncClient) -> None:
    listing = await ollama_client.list()
    names = [model.model for model in listing.models]
    assert "llama3.2:latest" in names
    assert listing.models[0].details is not None
    assert listing.models[0].details.quantization_level == "Q4_K_M"


async def test_show_reports_capabilities_and_context_length(ollama_client: ollama.AsyncClient) -> None:
    shown = await ollama_client.show("llama3.2")
    assert shown.capabilities == ["completion", "tools"]
    assert shown.modelinfo is not None
    assert shown.modelinfo["llama.context_length"] == 8192


async def test_generate_streams_tokens_then_timings(ollama_client: ollama.AsyncClient) -> None:
    chunks = [chunk async for chunk in await ollama_client.generate("llama3.2", "say hello", stream=True)]
    assert all(not chunk.done for chunk in chunks[:-1])
    final = chunks[-1]
    assert final.done
    assert final.done_reason == "stop"
    assert final.eval_count == len(chunks) - 1
    assert final.prompt_eval_count == 2
    assert final.eval_duration == final.eval_count * 20_000_000
    assert "".join(chunk.response for chunk in chunks).startswith("Reply from llama3.2:latest")


async def test_chat_replies_are_scripted_in_order(
    ollama_client: ollama.AsyncClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.extend(["first answer", "second answer"])
    one = await ollama_client.chat("llama3.2", messages=[{"role": "user", "content": "a"}])
    two = await ollama_client.chat("llama3.2", messages=[{"role": "user", "content": "b"}])
    assert (one.message.content, two.message.content) == ("first answer", "second answer")
    assert one.eval_count == 2


async def test_pull_streams_progress_and_installs(ollama_client: ollama.AsyncClient) -> None:
    statuses = [part async for part in await ollama_client.pull("mistral:7b", stream=True)]
    assert statuses[0].status == "pulling manifest"
    assert statuses[-1].status == "success"
    completed = [part.completed for part in statuses if part.completed is not None]
    assert completed == sorted(completed)
    assert "mistral:7b" in [model.model for model in (await ollama_client.list()).models]


async def test_pull_of_unknown_model_fails_like_ollama(ollama_client: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError, match="file does not exist"):
        async for _ in await ollama_client.pull("no-such-model", stream=True):
            pass


async def test_delete_removes_and_unknown_is_404(ollama_client: ollama.AsyncClient) -> None:
    await ollama_client.delete("qwen2.5:7b")
    with pytest.raises(ollama.ResponseError) as error:
        await ollama_client.delete("qwen2.5:7b")
    assert error.value.status_code == 404


async def test_embed_gives_unit_vectors_that_reflect_shared_words(ollama_client: ollama.AsyncClient) -> None:
    result = await ollama_client.embed(
        "nomic-embed-text", ["gpu cluster memory", "gpu cluster", "banana bread"]
    )
    near, far = result.embeddings[1], result.embeddings[2]
    base = result.embeddings[0]
    assert len(base) == 768
    assert abs(sum(value * value for value in base) - 1.0) < 1e-9

    def dot(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(base, near) > dot(base, far)


async def test_running_models_report_vram(ollama_client: ollama.AsyncClient) -> None:
    await ollama_client.generate("llama3.2", "warm up")
    running = (await ollama_client.ps()).models
    assert [model.model for model in running] == ["llama3.2:latest"]
    assert running[0].size_vram


async def test_unknown_model_is_404(ollama_client: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as error:
        await ollama_client.chat("nope", messages=[{"role": "user", "content": "x"}])
    assert error.value.status_code == 404


async def test_fail_switch_answers_every_call_with_that_status(
    ollama_client: ollama.AsyncClient, fake_ollama: FakeOllama
) -> None:
    fake_ollama.fail_status = 503
    with pytest.raises(ollama.ResponseError) as error:
        await ollama_client.list()
    assert error.value.status_code == 503


async def test_down_fake_refuses_connections(
    ollama_client: ollama.AsyncClient, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    with pytest.raises(ConnectionError):
        await ollama_client.list()


async def test_cut_stream_breaks_the_connection_mid_reply(
    ollama_client: ollama.AsyncClient, fake_ollama: FakeOllama
) -> None:
    import httpx

    fake_ollama.cut_stream_after = 2
    received = []

    async def drain() -> None:
        async for chunk in await ollama_client.generate("llama3.2", "a long answer please", stream=True):
            received.append(chunk)

    with pytest.raises(httpx.HTTPError):
        await drain()
    assert len(received) == 2
