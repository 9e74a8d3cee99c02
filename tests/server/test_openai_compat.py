"""The OpenAI-compatible API at /v1, driven by the official ``openai`` client against the app on
loopback: models, chat completions (JSON and streamed), agents as models, embeddings, errors in
OpenAI's shape, options passed through to Ollama, stopping a stream by disconnecting."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import openai
import pytest

from tests.conftest import API_KEY, create_agent, login

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiohttp.test_utils import TestClient

    from tests.fakes.ollama import FakeOllama


@pytest.fixture
async def oai(client: TestClient) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official client, pointed at the app; no retries (a 503 is seen at once)."""
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=API_KEY, max_retries=0)
    yield sdk
    await sdk.close()


def chat_requests(fake: FakeOllama) -> list[dict[str, Any]]:
    return [body for _, path, body in fake.requests if path == "/api/chat"]


async def test_models_lists_installed_models_and_active_agents(
    client: TestClient, oai: openai.AsyncOpenAI
) -> None:
    await create_agent(client, name="Summarizer")
    await create_agent(client, name="Sleeper", is_active=False)
    page = await oai.models.list()
    ids = [model.id for model in page.data]
    assert {"llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest", "agent:Summarizer"} <= set(ids)
    assert "agent:Sleeper" not in ids
    agent = next(model for model in page.data if model.id == "agent:Summarizer")
    assert agent.object == "model"
    assert agent.owned_by == "agentic-desktop"
    assert agent.created > 1_700_000_000
    llama = next(model for model in page.data if model.id == "llama3.2:latest")
    assert llama.owned_by == "ollama"


async def test_chat_completion(oai: openai.AsyncOpenAI, fake_ollama: FakeOllama) -> None:
    fake_ollama.replies.append("Paris is the capital")
    answer = await oai.chat.completions.create(
        model="llama3.2",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Capital of "}, {"type": "text", "text": "France?"}],
            },
        ],
        temperature=0.2,
        top_p=0.9,
        seed=7,
    )
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    assert answer.model == "llama3.2"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == "Paris is the capital"
    assert answer.choices[0].finish_reason == "stop"
    # The fake counts whitespace words: 5 prompt words, 4 reply pieces.
    assert answer.usage is not None
    usage = answer.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 4, 9)
    (sent,) = chat_requests(fake_ollama)
    assert sent["model"] == "llama3.2:latest"
    assert sent["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert sent["options"] == {"temperature": 0.2, "top_p": 0.9, "seed": 7}


async def test_chat_completion_streamed(oai: openai.AsyncOpenAI, fake_ollama: FakeOllama) -> None:
    fake_ollama.replies.append("Streaming works fine")
    stream = await oai.chat.completions.create(
        model="llama3.2:latest",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Streaming works fine"
    finishing = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishing == ["stop"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (2, 3)


async def test_stream_without_usage_sends_no_usage_chunk(
    oai: openai.AsyncOpenAI, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append("one two")
    stream = await oai.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_an_agent_as_the_model(
    client: TestClient, oai: openai.AsyncOpenAI, fake_ollama: FakeOllama
) -> None:
    await create_agent(
        client,
        name="Pirate",
        model_name="qwen2.5:7b",
        config={"temperature": 0.3, "max_tokens": 300, "system_prompt": "Talk like a pirate."},
    )
    fake_ollama.replies.extend(["Arr matey", "Aye"])
    answer = await oai.chat.completions.create(
        model="agent:Pirate", messages=[{"role": "user", "content": "Hello"}], temperature=1.1
    )
    assert answer.choices[0].message.content == "Arr matey"
    assert answer.model == "agent:Pirate"
    first = chat_requests(fake_ollama)[-1]
    assert first["model"] == "qwen2.5:7b"
    assert first["messages"] == [
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "Hello"},
    ]
    # The agent's parameters apply; the request's own values win.
    assert first["options"] == {"temperature": 1.1, "num_predict": 300}

    # A request with its own system message keeps it (the agent's is not added).
    await oai.chat.completions.create(
        model="agent:Pirate",
        messages=[{"role": "developer", "content": "Be formal."}, {"role": "user", "content": "Hello"}],
    )
    second = chat_requests(fake_ollama)[-1]
    assert second["messages"][0] == {"role": "system", "content": "Be formal."}
    assert len(second["messages"]) == 2


async def test_stop_and_max_tokens_reach_ollama(oai: openai.AsyncOpenAI, fake_ollama: FakeOllama) -> None:
    fake_ollama.replies.append("one two three four five six")
    answer = await oai.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "count"}], max_tokens=3, stop=["END", "###"]
    )
    (sent,) = chat_requests(fake_ollama)
    assert sent["options"] == {"num_predict": 3, "stop": ["END", "###"]}
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content == "one two three "
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 3

    fake_ollama.replies.append("alpha beta END gamma")
    stream = await oai.chat.completions.create(
        model="llama3.2",
        messages=[{"role": "user", "content": "count"}],
        max_completion_tokens=50,
        stop="END",
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    assert chat_requests(fake_ollama)[-1]["options"] == {"num_predict": 50, "stop": ["END"]}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "alpha beta"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_embeddings(oai: openai.AsyncOpenAI, fake_ollama: FakeOllama) -> None:
    # The official client asks for base64 by default and decodes it; the floats must match Ollama's.
    result = await oai.embeddings.create(model="nomic-embed-text", input=["red apples", "green pears"])
    assert result.object == "list"
    assert result.model == "nomic-embed-text"
    assert [item.index for item in result.data] == [0, 1]
    assert all(len(item.embedding) == 768 for item in result.data)
    assert result.usage.prompt_tokens == 4
    assert result.usage.total_tokens == 4
    (sent,) = [body for _, path, body in fake_ollama.requests if path == "/api/embed"]
    assert sent["model"] == "nomic-embed-text:latest"
    assert sent["input"] == ["red apples", "green pears"]

    floats = await oai.embeddings.create(
        model="nomic-embed-text", input="red apples", encoding_format="float"
    )
    assert len(floats.data) == 1
    assert floats.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-6)
    assert math.isclose(sum(value * value for value in floats.data[0].embedding), 1.0, rel_tol=1e-6)


async def test_unknown_model_is_a_404_naming_what_exists(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found"
    assert error["type"] == "invalid_request_error"
    assert "llama3.2:latest" in error["message"]
    assert "gpt-4o" in error["message"]

    with pytest.raises(openai.NotFoundError) as caught:
        await oai.chat.completions.create(
            model="agent:Nobody", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    assert "agent:Nobody" in caught.value.message

    with pytest.raises(openai.NotFoundError):
        await oai.embeddings.create(model="text-embedding-3-small", input="hi")


async def test_bad_key_is_a_401_in_openais_shape(client: TestClient) -> None:
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="wrong-key", max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list()
    finally:
        await sdk.close()
    assert caught.value.status_code == 401
    assert caught.value.body == {
        "message": "Invalid API key or login token",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }
    # Without a key at all, the raw answer has the same shape.
    resp = await client.get("/v1/models")
    assert resp.status == 401
    assert set((await resp.json())["error"]) == {"message", "type", "param", "code"}
    # The rest of the API keeps its own shape.
    resp = await client.post("/api/v1/chat/sessions", json={})
    assert set(await resp.json()) == {"detail", "status_code"}


async def test_a_login_token_works_as_the_key(client: TestClient) -> None:
    token = await login(client)
    sdk = openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=token, max_retries=0)
    try:
        page = await sdk.models.list()
    finally:
        await sdk.close()
    assert "llama3.2:latest" in [model.id for model in page.data]


async def test_ollama_down_is_a_503(oai: openai.AsyncOpenAI, fake_ollama: FakeOllama) -> None:
    await fake_ollama.stop()
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    assert "not reachable" in caught.value.message
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.models.list()
    assert caught.value.status_code == 503


async def test_invalid_body_is_refused_in_openais_shape(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        await oai.chat.completions.create(model="llama3.2", messages=[{"role": "tool", "content": "x"}])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "messages.0.role"
    with pytest.raises(openai.UnprocessableEntityError):
        await oai.chat.completions.create(model="llama3.2", messages=[], temperature=5)


async def test_a_failure_mid_stream_ends_with_an_error_event(
    oai: openai.AsyncOpenAI, fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append("one two three four five")
    fake_ollama.cut_stream_after = 2
    stream = await oai.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received: list[str] = []

    async def read_all() -> None:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as caught:
        await read_all()
    assert "".join(received) == "one two "
    assert "Ollama" in caught.value.message


async def test_disconnecting_stops_the_generation(oai: openai.AsyncOpenAI, fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_words = 500
    fake_ollama.token_delay = 0.01
    stream = await oai.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "write a lot"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices[0].delta.content:
            break
    await stream.close()  # the client goes away

    async def stopped() -> None:
        while fake_ollama.streams_aborted == 0 or fake_ollama.streams_open:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(stopped(), 5)
    assert fake_ollama.streams_aborted == 1


async def test_v1_is_rate_limited_like_the_api(
    client: TestClient, oai: openai.AsyncOpenAI, backend: Any
) -> None:
    backend.security.policy.rate_limits.api_requests_per_minute = 2
    await oai.models.list()
    await oai.models.list()
    with pytest.raises(openai.RateLimitError) as caught:
        await oai.models.list()
    assert caught.value.response.headers["Retry-After"]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "rate_limit_error"


async def test_openapi_documents_v1(client: TestClient) -> None:
    doc = await (await client.get("/openapi.json")).json()
    for path, method in (("/v1/models", "get"), ("/v1/chat/completions", "post"), ("/v1/embeddings", "post")):
        operation = doc["paths"][path][method]
        assert operation["tags"] == ["openai"]
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/OpenAIErrorResponse"
        }
    chat = doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in chat
