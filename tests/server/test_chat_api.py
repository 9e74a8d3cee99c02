"""Chat over the API: sessions, messages with metrics from Ollama's timings, context trimming,
streaming as server-sent events and stopping a generation by disconnecting, stats, templates."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from server.services.chat_models import MarkerFilter, context_budget, fit_context, performance_metrics
from server.services.llm import Generation
from tests.conftest import bearer
from tests.fakes.ollama import MS

if TYPE_CHECKING:
    from aiohttp import ClientResponse
    from aiohttp.test_utils import TestClient

    from tests.fakes.ollama import FakeOllama

SPEC_METRICS = {
    "response_time_seconds",
    "load_time_seconds",
    "prompt_eval_time_seconds",
    "generation_time_seconds",
    "prompt_tokens",
    "response_tokens",
    "total_tokens",
    "tokens_per_second",
    "context_length_chars",
    "model_name",
    "timestamp",
}


async def new_session(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"session_type": "general", "model_name": "llama3.2:latest", "title": "Test chat", **fields}
    resp = await client.post("/api/v1/chat/sessions", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def say(
    client: TestClient, headers: dict[str, str], session_id: str, message: str, **fields: Any
) -> dict[str, Any]:
    resp = await client.post(
        f"/api/v1/chat/sessions/{session_id}/messages", json={"message": message, **fields}, headers=headers
    )
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def chat_requests(fake: FakeOllama) -> list[dict[str, Any]]:
    return [body for _, path, body in fake.requests if path == "/api/chat"]


async def sse_events(resp: ClientResponse) -> list[tuple[str, dict[str, Any]]]:
    """Every (event, data) of a server-sent event stream, to its end."""
    text = (await resp.read()).decode()
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# -- sessions --


async def test_a_new_session_is_active_on_its_model(client: TestClient, auth_headers: dict[str, str]) -> None:
    session = await new_session(client, auth_headers, config={"system_prompt": "Be brief."}, user_id="u-1")
    assert session["session_type"] == "general"
    assert session["model_name"] == "llama3.2:latest"
    assert session["status"] == "active"
    assert session["title"] == "Test chat"
    assert session["user_id"] == "u-1"
    assert session["config"] == {"system_prompt": "Be brief."}
    assert session["agent_id"] is None
    assert session["created_at"].endswith("Z")


async def test_a_session_without_a_model_uses_the_default_model(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.post("/api/v1/chat/sessions", json={}, headers=auth_headers)
    assert resp.status == 200
    body = await resp.json()
    assert (body["model_name"], body["title"]) == ("llama3.2:latest", "New chat")


async def test_an_unknown_model_is_a_422_naming_the_installed_ones(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.post("/api/v1/chat/sessions", json={"model_name": "gpt-9"}, headers=auth_headers)
    assert resp.status == 422
    issue = (await resp.json())["detail"][0]
    assert issue["loc"] == ["body", "model_name"]
    assert "qwen2.5:7b" in issue["msg"]


async def test_an_unknown_template_is_a_422_naming_the_known_ones(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/chat/sessions", json={"config": {"template": "nope"}}, headers=auth_headers
    )
    assert resp.status == 422
    assert "code_helper" in (await resp.json())["detail"][0]["msg"]


async def test_a_template_gives_the_session_its_config(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    session = await new_session(client, auth_headers, config={"template": "code_helper", "temperature": 0.5})
    assert session["config"]["temperature"] == 0.5
    assert "fenced Markdown code blocks" in session["config"]["system_prompt"]


async def test_sessions_are_listed_most_recent_first_and_filtered_by_type(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    first = await new_session(client, auth_headers, title="first")
    await new_session(client, auth_headers, title="wizard", session_type="agent_creation")
    await say(client, auth_headers, first["id"], "hello")
    listed = await (await client.get("/api/v1/chat/sessions")).json()
    assert [session["title"] for session in listed] == ["first", "wizard"]
    wizards = await (await client.get("/api/v1/chat/sessions?session_type=agent_creation")).json()
    assert [session["title"] for session in wizards] == ["wizard"]


async def test_an_unknown_session_is_404(client: TestClient) -> None:
    resp = await client.get("/api/v1/chat/sessions/nope")
    assert resp.status == 404
    assert (await resp.json())["status_code"] == 404


AUTH_TABLE = [
    ("POST", "/api/v1/chat/sessions", True),
    ("GET", "/api/v1/chat/sessions", False),
    ("GET", "/api/v1/chat/sessions/{id}", False),
    ("GET", "/api/v1/chat/sessions/{id}/messages", False),
    ("POST", "/api/v1/chat/sessions/{id}/messages", True),
    ("PUT", "/api/v1/chat/sessions/{id}/status", True),
    ("GET", "/api/v1/chat/sessions/{id}/stats", False),
    ("DELETE", "/api/v1/chat/sessions/{id}", True),
    ("GET", "/api/v1/chat/templates", False),
    ("GET", "/api/v1/chat/models", False),
    ("PUT", "/api/v1/chat/sessions/{id}", True),
    ("POST", "/api/v1/chat/sessions/{id}/finalize", True),
]


@pytest.mark.parametrize(("method", "path", "needs_auth"), AUTH_TABLE)
async def test_anonymous_access_follows_the_spec_table(
    client: TestClient, auth_headers: dict[str, str], method: str, path: str, needs_auth: bool
) -> None:
    session = await new_session(client, auth_headers)
    resp = await client.request(method, path.format(id=session["id"]), json={})
    assert (resp.status == 401) is needs_auth


async def test_renaming_and_archiving_a_session(client: TestClient, auth_headers: dict[str, str]) -> None:
    session = await new_session(client, auth_headers)
    url = f"/api/v1/chat/sessions/{session['id']}"
    resp = await client.put(
        url, json={"title": "Renamed", "config": {"temperature": 0.1}}, headers=auth_headers
    )
    assert resp.status == 200
    assert (await resp.json())["title"] == "Renamed"
    resp = await client.put(f"{url}/status", json={"status": "archived"}, headers=auth_headers)
    assert (await resp.json())["status"] == "archived"
    fetched = await (await client.get(url)).json()
    assert (fetched["title"], fetched["status"], fetched["config"]) == (
        "Renamed",
        "archived",
        {"temperature": 0.1},
    )


async def test_an_archived_session_takes_no_messages(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    session = await new_session(client, auth_headers)
    url = f"/api/v1/chat/sessions/{session['id']}"
    await client.put(f"{url}/status", json={"status": "archived"}, headers=auth_headers)
    resp = await client.post(f"{url}/messages", json={"message": "hi"}, headers=auth_headers)
    assert resp.status == 409
    assert "archived" in (await resp.json())["detail"]


async def test_an_unknown_status_is_a_422(client: TestClient, auth_headers: dict[str, str]) -> None:
    session = await new_session(client, auth_headers)
    resp = await client.put(
        f"/api/v1/chat/sessions/{session['id']}/status", json={"status": "paused"}, headers=auth_headers
    )
    assert resp.status == 422


async def test_deleting_a_session_deletes_its_messages(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    session = await new_session(client, auth_headers)
    await say(client, auth_headers, session["id"], "hello")
    resp = await client.delete(f"/api/v1/chat/sessions/{session['id']}", headers=auth_headers)
    assert resp.status == 200
    assert (await resp.json())["session_id"] == session["id"]
    assert (await client.get(f"/api/v1/chat/sessions/{session['id']}/messages")).status == 404


# -- messages and metrics --


async def test_a_reply_carries_exactly_the_spec_metrics_from_ollamas_timings(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(client, auth_headers)
    fake_ollama.replies.append("Qubits can be zero and one at once.")
    body = await say(client, auth_headers, session["id"], "Explain quantum computing in simple terms")
    assert body["session_id"] == session["id"]
    assert body["response"] == "Qubits can be zero and one at once."
    assert body["model"] == "llama3.2:latest"
    metrics = body["performance_metrics"]
    assert set(metrics) == SPEC_METRICS
    # The fake: 2 ms load, 1 ms per prompt word, 20 ms per generated token, 1 ms more in total.
    prompt_words, tokens = 6, 8
    assert metrics["prompt_tokens"] == prompt_words
    assert metrics["response_tokens"] == tokens
    assert metrics["total_tokens"] == prompt_words + tokens
    assert metrics["load_time_seconds"] == 0.002
    assert metrics["prompt_eval_time_seconds"] == prompt_words * MS / 1e9
    assert metrics["generation_time_seconds"] == tokens * 20 * MS / 1e9
    assert metrics["response_time_seconds"] == round((2 + prompt_words + tokens * 20 + 1) / 1000, 3)
    assert metrics["tokens_per_second"] == 50.0
    assert metrics["context_length_chars"] == len("Explain quantum computing in simple terms")
    assert metrics["model_name"] == "llama3.2:latest"
    assert metrics["timestamp"].endswith("Z")
    assert body["tokens_used"] == prompt_words + tokens


def test_metrics_arithmetic_matches_the_spec_example() -> None:
    from datetime import UTC, datetime

    generation = Generation(
        text="x",
        model="llama2:13b",
        done_reason="stop",
        prompt_tokens=156,
        completion_tokens=89,
        total_ns=2_456_000_000,
        load_ns=123_000_000,
        prompt_eval_ns=789_000_000,
        eval_ns=1_544_000_000,
    )
    metrics = performance_metrics(generation, 2048, datetime(2024, 1, 1, 12, tzinfo=UTC)).model_dump()
    assert metrics == {
        "response_time_seconds": 2.456,
        "load_time_seconds": 0.123,
        "prompt_eval_time_seconds": 0.789,
        "generation_time_seconds": 1.544,
        "prompt_tokens": 156,
        "response_tokens": 89,
        "total_tokens": 245,
        "tokens_per_second": 57.64,
        "context_length_chars": 2048,
        "model_name": "llama2:13b",
        "timestamp": "2024-01-01T12:00:00.000Z",
    }


async def test_messages_are_kept_oldest_first_with_metrics_on_replies(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    session = await new_session(client, auth_headers)
    await say(client, auth_headers, session["id"], "first question", metadata={"tags": ["a"]})
    await say(client, auth_headers, session["id"], "second question")
    messages = await (await client.get(f"/api/v1/chat/sessions/{session['id']}/messages")).json()
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "first question"
    assert messages[0]["metadata"] == {"tags": ["a"]}
    assert messages[0]["performance_metrics"] is None
    assert set(messages[1]["performance_metrics"]) == SPEC_METRICS
    assert messages[1]["model"] == "llama3.2:latest"
    assert all(m["timestamp"] == m["created_at"] and m["session_id"] == session["id"] for m in messages)


async def test_the_first_message_names_an_untitled_session(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.post("/api/v1/chat/sessions", json={}, headers=auth_headers)
    session = await resp.json()
    await say(client, auth_headers, session["id"], "How do I   rotate GPU fans?")
    fetched = await (await client.get(f"/api/v1/chat/sessions/{session['id']}")).json()
    assert fetched["title"] == "How do I rotate GPU fans?"


async def test_the_model_sees_the_system_prompt_then_the_history(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(
        client, auth_headers, config={"system_prompt": "Be brief.", "temperature": 0.2}
    )
    fake_ollama.replies.extend(["Paris.", "About 2 million."])
    await say(client, auth_headers, session["id"], "Capital of France?")
    await say(client, auth_headers, session["id"], "Population?")
    sent = chat_requests(fake_ollama)[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "Population?"},
    ]
    assert sent["options"]["temperature"] == 0.2


async def test_model_name_overrides_the_sessions_model_for_one_reply(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(client, auth_headers)
    body = await say(client, auth_headers, session["id"], "hi", model_name="qwen2.5:7b")
    assert body["model"] == "qwen2.5:7b"
    assert body["performance_metrics"]["model_name"] == "qwen2.5:7b"
    assert chat_requests(fake_ollama)[-1]["model"] == "qwen2.5:7b"


async def test_the_context_is_trimmed_oldest_turns_first_keeping_the_system_prompt(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    model = fake_ollama.find("qwen2.5:7b")
    assert model is not None
    model.context_length = 400  # with the default reply reserve, 200 tokens for the prompt
    session = await new_session(
        client, auth_headers, model_name="qwen2.5:7b", config={"system_prompt": "You are terse."}
    )
    for n in range(4):
        fake_ollama.replies.append(f"answer {n} " + "word " * 40)
        await say(client, auth_headers, session["id"], f"question {n} " + "word " * 40)
    sent = chat_requests(fake_ollama)[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "You are terse."}
    assert sent[-1]["content"].startswith("question 3")
    assert sent[1]["role"] == "user"
    assert not any(m["content"].startswith("question 0") for m in sent)
    assert sum(len(m["content"]) for m in sent) // 4 <= 200
    last = (await (await client.get(f"/api/v1/chat/sessions/{session['id']}/messages")).json())[-1]
    assert last["metadata"]["context_turns_dropped"] >= 2
    assert last["performance_metrics"]["context_length_chars"] == sum(len(m["content"]) for m in sent)


async def test_a_message_longer_than_the_context_is_a_400(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(client, auth_headers, config={"num_ctx": 256})
    resp = await client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"message": "word " * 1000},
        headers=auth_headers,
    )
    assert resp.status == 400
    assert "context" in (await resp.json())["detail"]
    assert chat_requests(fake_ollama) == []


def test_fit_context_drops_the_oldest_turns_and_never_starts_with_a_reply() -> None:
    system = {"role": "system", "content": "s" * 40}
    turns = [
        {"role": "user", "content": "a" * 400},
        {"role": "assistant", "content": "b" * 400},
        {"role": "user", "content": "c" * 40},
        {"role": "assistant", "content": "d" * 40},
        {"role": "user", "content": "e" * 40},
    ]
    messages, dropped = fit_context(system, turns, budget_tokens=120)
    assert [m["content"][0] for m in messages] == ["s", "c", "d", "e"]
    assert dropped == 2
    assert context_budget(4096, None) == 3072
    assert context_budget(1000, 900) == 500


def test_the_marker_filter_hides_a_marker_split_across_pieces() -> None:
    marker = MarkerFilter("[[DRAFT]]")
    shown = "".join(marker.feed(piece) for piece in ["Ready. [", "[DR", "AFT]", "] ok [x"]) + marker.finish()
    assert shown == "Ready.  ok [x"
    assert marker.found


async def test_ollama_down_is_a_503_before_anything_is_stored(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(client, auth_headers)
    await fake_ollama.stop()
    for stream in (False, True):
        resp = await client.post(
            f"/api/v1/chat/sessions/{session['id']}/messages",
            json={"message": "hi", "stream": stream},
            headers=auth_headers,
        )
        assert resp.status == 503
        assert "not reachable" in (await resp.json())["detail"]
    assert await (await client.get(f"/api/v1/chat/sessions/{session['id']}/messages")).json() == []


# -- streaming --


async def test_streaming_sends_tokens_then_the_message_with_metrics(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(client, auth_headers)
    fake_ollama.replies.append("Streaming works fine")
    resp = await client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"message": "stream please", "stream": True},
        headers=auth_headers,
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    events = await sse_events(resp)
    tokens = [data["content"] for kind, data in events if kind == "token"]
    assert tokens == ["Streaming ", "works ", "fine"]
    kind, final = events[-1]
    assert kind == "message"
    assert final["type"] == "message"
    assert final["response"] == "Streaming works fine"
    assert set(final["performance_metrics"]) == SPEC_METRICS
    assert final["performance_metrics"]["response_tokens"] == 3
    stored = await (await client.get(f"/api/v1/chat/sessions/{session['id']}/messages")).json()
    assert stored[-1]["content"] == "Streaming works fine"


async def test_disconnecting_stops_the_generation_and_keeps_what_came(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(client, auth_headers)
    fake_ollama.reply_words = 500
    fake_ollama.token_delay = 0.01
    resp = await client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"message": "write a lot", "stream": True},
        headers=auth_headers,
    )
    assert resp.status == 200
    first = await resp.content.readuntil(b"\n\n")
    assert first.startswith(b"event: token")
    resp.close()  # the client goes away

    async def stopped() -> None:
        while fake_ollama.streams_aborted == 0 or fake_ollama.streams_open:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(stopped(), 5)
    assert fake_ollama.streams_aborted == 1

    async def stored() -> list[dict[str, Any]]:
        while True:
            messages = await (await client.get(f"/api/v1/chat/sessions/{session['id']}/messages")).json()
            if len(messages) == 2:
                return list(messages)
            await asyncio.sleep(0.01)

    messages = await asyncio.wait_for(stored(), 5)
    reply = messages[1]
    assert reply["metadata"] == {"interrupted": "stopped"}
    assert reply["content"].startswith("token0 ")
    assert len(reply["content"].split()) < 500
    assert reply["performance_metrics"] is None
    # The session is free again.
    fake_ollama.reply_words, fake_ollama.token_delay = None, 0.0
    await say(client, auth_headers, session["id"], "again")


async def test_a_second_message_while_one_streams_is_a_409(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    session = await new_session(client, auth_headers)
    fake_ollama.reply_words = 20
    fake_ollama.token_delay = 0.02
    url = f"/api/v1/chat/sessions/{session['id']}/messages"
    resp = await client.post(url, json={"message": "long one", "stream": True}, headers=auth_headers)
    await resp.content.readuntil(b"\n\n")
    second = await client.post(url, json={"message": "impatient"}, headers=auth_headers)
    assert second.status == 409
    await resp.read()


async def test_openapi_documents_the_event_stream(client: TestClient) -> None:
    spec = await (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/chat/sessions/{session_id}/messages"]["post"]
    content = operation["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/event-stream"}
    assert "stream" in spec["components"]["schemas"]["ChatSendIn"]["properties"]


# -- stats, templates, models --


async def test_stats_add_up_the_replies(client: TestClient, auth_headers: dict[str, str]) -> None:
    session = await new_session(client, auth_headers)
    first = await say(client, auth_headers, session["id"], "one")
    second = await say(client, auth_headers, session["id"], "two")
    stats = await (await client.get(f"/api/v1/chat/sessions/{session['id']}/stats")).json()
    assert stats["session_id"] == session["id"]
    assert (stats["message_count"], stats["user_messages"], stats["assistant_messages"]) == (4, 2, 2)
    assert stats["total_tokens"] == first["tokens_used"] + second["tokens_used"]
    assert stats["average_tokens_per_second"] == 50.0
    assert stats["models_used"] == ["llama3.2:latest"]
    assert stats["last_activity"] == second["message"]["created_at"]
    assert stats["duration_seconds"] >= 0


async def test_templates_include_a_specialised_wizard(client: TestClient) -> None:
    body = await (await client.get("/api/v1/chat/templates")).json()
    templates = {template["id"]: template for template in body["templates"]}
    assert templates["email_processor_template"]["session_type"] == "agent_creation"
    assert templates["general_assistant"]["session_type"] == "general"
    assert set(templates["code_helper"]) == {"id", "name", "description", "session_type", "config"}


async def test_chat_models_leave_out_embedding_models(client: TestClient) -> None:
    body = await (await client.get("/api/v1/chat/models")).json()
    assert body == {"models": ["llama3.2:latest", "qwen2.5:7b"], "default_model": "llama3.2:latest"}


async def test_login_tokens_work_and_name_the_sessions_user(client: TestClient) -> None:
    from tests.conftest import login

    token = await login(client)
    resp = await client.post("/api/v1/chat/sessions", json={}, headers=bearer(token))
    assert resp.status == 200
    assert (await resp.json())["user_id"] is not None
