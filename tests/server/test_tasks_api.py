"""Tasks through the API: each task type's output, queueing, limits, cancel, timeout, Ollama
failures, and recovery after a restart."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update

from server.api.app import create_app
from server.backend import Backend
from server.db.models import TaskRow
from tests.conftest import create_agent, wait_for_task

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.config import Settings
    from tests.fakes.ollama import FakeOllama

LONG_REPLY = " ".join(f"word{n}" for n in range(200))


async def run(
    client: TestClient, agent_id: str, task_input: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/tasks/run", json={"agent_id": agent_id, "input": task_input}, headers=headers
    )
    assert resp.status == 202, await resp.text()
    return dict(await resp.json())


@pytest.fixture
async def agent(client: TestClient) -> dict[str, Any]:
    return await create_agent(
        client, config={"temperature": 0.1, "max_tokens": 256, "system_prompt": "Be brief."}
    )


async def test_generate_returns_the_models_text_and_model_usage(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append("A robot learned to paint sunsets.")
    task = await run(client, agent["id"], {"type": "generate", "prompt": "Write a story"}, auth_headers)
    assert task["status"] == "pending"
    done = await wait_for_task(client, task["id"])
    assert done["status"] == "completed"
    assert done["output"] == {"type": "generate", "response": "A robot learned to paint sunsets."}
    usage = done["model_usage"]
    assert usage["primary_model"] == "llama3.2:latest"
    assert usage["tokens_used"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == 6
    assert 0 < usage["performance_score"] <= 1
    assert len(usage["model_version"]) == 12
    assert done["started_at"] <= done["completed_at"]
    _method, _path, body = next(r for r in fake_ollama.requests if r[1] == "/api/generate")
    assert body["system"] == "Be brief."
    assert body["options"] == {"temperature": 0.1, "num_predict": 256}


async def test_chat_sends_the_conversation_after_the_system_prompt(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append("For example, spam filters.")
    messages = [
        {"role": "user", "content": "What is machine learning?"},
        {"role": "assistant", "content": "Machine learning is..."},
        {"role": "user", "content": "Can you give an example?"},
    ]
    done = await wait_for_task(
        client, (await run(client, agent["id"], {"type": "chat", "messages": messages}, auth_headers))["id"]
    )
    assert done["output"]["response"] == "For example, spam filters."
    assert done["output"]["message"] == {"role": "assistant", "content": "For example, spam filters."}
    sent = next(r[2] for r in fake_ollama.requests if r[1] == "/api/chat")["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1:] == messages


@pytest.mark.parametrize(
    ("length", "phrase"), [("short", "one or two sentences"), ("long", "several paragraphs")]
)
async def test_summarize_asks_for_the_length_and_reports_compression(
    client: TestClient,
    agent: dict[str, Any],
    auth_headers: dict[str, str],
    fake_ollama: FakeOllama,
    length: str,
    phrase: str,
) -> None:
    text = "Artificial intelligence is intelligence demonstrated by machines. " * 10
    fake_ollama.replies.append("AI is machine intelligence.")
    task = await run(client, agent["id"], {"type": "summarize", "text": text, "length": length}, auth_headers)
    done = await wait_for_task(client, task["id"])
    assert done["output"]["summary"] == "AI is machine intelligence."
    assert done["output"]["compression_ratio"] == round(len(text) / len("AI is machine intelligence."), 2)
    prompt = next(r[2] for r in fake_ollama.requests if r[1] == "/api/generate")["prompt"]
    assert phrase in prompt


@pytest.mark.parametrize(
    ("analysis_type", "reply", "key"),
    [
        ("sentiment", {"sentiment": "positive", "confidence": 0.9, "explanation": "Upbeat."}, "sentiment"),
        ("topics", {"topics": ["GPUs", "home labs"]}, "topics"),
        ("entities", {"entities": [{"text": "Ollama", "type": "product"}]}, "entities"),
    ],
)
async def test_structured_analysis_uses_a_json_schema_and_returns_the_parsed_result(
    client: TestClient,
    agent: dict[str, Any],
    auth_headers: dict[str, str],
    fake_ollama: FakeOllama,
    analysis_type: str,
    reply: dict[str, Any],
    key: str,
) -> None:
    fake_ollama.replies.append(json.dumps(reply))
    task = await run(
        client,
        agent["id"],
        {"type": "analyze", "text": "I love my GPU box.", "analysis_type": analysis_type},
        auth_headers,
    )
    done = await wait_for_task(client, task["id"])
    assert done["status"] == "completed"
    assert done["output"] == {"type": "analyze", "analysis_type": analysis_type, "result": reply}
    sent = next(r[2] for r in fake_ollama.requests if r[1] == "/api/generate")
    assert key in sent["format"]["properties"]


async def test_general_analysis_is_free_text(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append("A short upbeat note.")
    task = await run(client, agent["id"], {"type": "analyze", "text": "I love my GPU box."}, auth_headers)
    done = await wait_for_task(client, task["id"])
    assert done["output"] == {
        "type": "analyze",
        "analysis_type": "general",
        "analysis": "A short upbeat note.",
    }


async def test_a_model_answer_that_is_not_the_asked_json_fails_the_task_clearly(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.replies.append("I think it is positive")
    task = await run(
        client, agent["id"], {"type": "analyze", "text": "x", "analysis_type": "sentiment"}, auth_headers
    )
    done = await wait_for_task(client, task["id"])
    assert done["status"] == "failed"
    assert "sentiment analysis was not JSON" in done["error"]


@pytest.mark.parametrize(
    ("task_input", "where"),
    [
        ({"type": "paint"}, ["body", "input"]),
        ({"type": "generate"}, ["body", "input", "generate", "prompt"]),
        ({"type": "summarize", "text": "x", "length": "huge"}, ["body", "input", "summarize", "length"]),
        ({"type": "chat", "messages": []}, ["body", "input", "chat", "messages"]),
    ],
)
async def test_bad_input_is_422_and_nothing_is_queued(
    client: TestClient,
    agent: dict[str, Any],
    auth_headers: dict[str, str],
    task_input: dict[str, Any],
    where: list[str],
) -> None:
    resp = await client.post(
        "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": task_input}, headers=auth_headers
    )
    assert resp.status == 422
    assert where in [issue["loc"][: len(where)] for issue in (await resp.json())["detail"]]
    assert await (await client.get("/api/v1/tasks")).json() == []


async def test_unknown_or_inactive_agent_cannot_run_tasks(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str]
) -> None:
    task_input = {"type": "generate", "prompt": "x"}
    missing = await client.post(
        "/api/v1/tasks/run", json={"agent_id": "nope", "input": task_input}, headers=auth_headers
    )
    assert missing.status == 404
    await client.put(f"/api/v1/agents/{agent['id']}", json={"is_active": False}, headers=auth_headers)
    inactive = await client.post(
        "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": task_input}, headers=auth_headers
    )
    assert inactive.status == 400
    assert "inactive" in (await inactive.json())["detail"]


async def test_running_a_task_needs_credentials(client: TestClient, agent: dict[str, Any]) -> None:
    resp = await client.post(
        "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}}
    )
    assert resp.status == 401


async def test_cancel_a_running_task(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.token_delay = 0.05
    fake_ollama.replies.append(LONG_REPLY)
    task = await run(client, agent["id"], {"type": "generate", "prompt": "long"}, auth_headers)
    await wait_for_task(client, task["id"], ("running",))
    resp = await client.delete(f"/api/v1/tasks/{task['id']}", headers=auth_headers)
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    again = await client.delete(f"/api/v1/tasks/{task['id']}", headers=auth_headers)
    assert again.status == 409


async def test_at_most_the_limit_run_at_once_and_the_rest_wait_in_order(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.token_delay = 0.01
    fake_ollama.replies.extend([" ".join(["word"] * 60)] * 10)
    tasks = [
        await run(client, agent["id"], {"type": "generate", "prompt": f"n{n}"}, auth_headers)
        for n in range(10)
    ]
    await wait_for_task(client, tasks[0]["id"], ("running",))
    statuses = [(await (await client.get(f"/api/v1/tasks/{t['id']}/status")).json())["status"] for t in tasks]
    assert statuses.count("running") == 8
    assert statuses[8:] == ["pending", "pending"]
    cancelled = await client.delete(f"/api/v1/tasks/{tasks[9]['id']}", headers=auth_headers)
    assert (await cancelled.json())["status"] == "cancelled"
    done = [await wait_for_task(client, t["id"]) for t in tasks[:9]]
    assert {d["status"] for d in done} == {"completed"}
    assert done[8]["started_at"] >= max(d["started_at"] for d in done[:8])


async def test_a_task_past_its_timeout_fails(
    aiohttp_client: Any, settings: Settings, fake_ollama: FakeOllama, auth_headers: dict[str, str]
) -> None:
    backend = Backend(settings.model_copy(update={"task_timeout": 0.3}))
    await backend.start()
    try:
        client = await aiohttp_client(create_app(backend))
        agent = await create_agent(client)
        fake_ollama.token_delay = 0.05
        fake_ollama.replies.append(LONG_REPLY)
        task = await run(client, agent["id"], {"type": "generate", "prompt": "x"}, auth_headers)
        done = await wait_for_task(client, task["id"])
        assert done["status"] == "failed"
        assert "Timed out after 0.3 s" in done["error"]
    finally:
        await backend.stop()


async def test_ollama_going_down_mid_task_fails_it_with_what_to_do(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.cut_stream_after = 3
    fake_ollama.replies.append(LONG_REPLY)
    task = await run(client, agent["id"], {"type": "generate", "prompt": "x"}, auth_headers)
    done = await wait_for_task(client, task["id"])
    assert done["status"] == "failed"
    assert f"Ollama at {fake_ollama.url} broke off the connection" in done["error"]


async def test_ollama_down_before_the_task_fails_it(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    task = await run(client, agent["id"], {"type": "generate", "prompt": "x"}, auth_headers)
    done = await wait_for_task(client, task["id"])
    assert done["status"] == "failed"
    assert "start it (ollama serve)" in done["error"]


async def test_a_removed_model_fails_the_task_saying_how_to_pull_it(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.models = [m for m in fake_ollama.models if m.name != "llama3.2:latest"]
    task = await run(client, agent["id"], {"type": "generate", "prompt": "x"}, auth_headers)
    done = await wait_for_task(client, task["id"])
    assert "is not installed in Ollama" in done["error"]


async def test_dynamic_agents_run_on_the_default_model(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    dynamic = await create_agent(client, name="Dyn", model_name=None, agent_type="email_analyzer")
    task = await run(client, dynamic["id"], {"type": "generate", "prompt": "x"}, auth_headers)
    done = await wait_for_task(client, task["id"])
    assert done["model_usage"]["primary_model"] == "llama3.2:latest"


async def test_list_is_a_bare_array_newest_first_with_filters(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    other = await create_agent(client, name="Other")
    first = await run(client, agent["id"], {"type": "generate", "prompt": "a"}, auth_headers)
    second = await run(client, other["id"], {"type": "generate", "prompt": "b"}, auth_headers)
    await wait_for_task(client, first["id"])
    await wait_for_task(client, second["id"])
    tasks = await (await client.get("/api/v1/tasks")).json()
    assert [t["id"] for t in tasks] == [second["id"], first["id"]]
    by_agent = await (await client.get("/api/v1/tasks", params={"agent_id": agent["id"]})).json()
    assert [t["id"] for t in by_agent] == [first["id"]]
    completed = await (await client.get("/api/v1/tasks", params={"status": "completed", "limit": "1"})).json()
    assert len(completed) == 1
    none_failed = await (await client.get("/api/v1/tasks", params={"status": "failed"})).json()
    assert none_failed == []
    static_only = await (await client.get("/api/v1/tasks", params={"include_dynamic": "false"})).json()
    assert len(static_only) == 2
    bad = await client.get("/api/v1/tasks", params={"status": "sleeping"})
    assert bad.status == 422


async def test_unknown_task_is_404(client: TestClient, auth_headers: dict[str, str]) -> None:
    assert (await client.get("/api/v1/tasks/nope/status")).status == 404
    assert (await client.delete("/api/v1/tasks/nope", headers=auth_headers)).status == 404


async def test_deleting_an_agent_cancels_its_running_task_and_removes_its_tasks(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.token_delay = 0.05
    fake_ollama.replies.append(LONG_REPLY)
    task = await run(client, agent["id"], {"type": "generate", "prompt": "x"}, auth_headers)
    await wait_for_task(client, task["id"], ("running",))
    assert (await client.delete(f"/api/v1/agents/{agent['id']}", headers=auth_headers)).status == 200
    assert (await client.get(f"/api/v1/tasks/{task['id']}/status")).status == 404
    assert (await client.get(f"/api/v1/logs/{task['id']}")).status == 404


async def test_restart_fails_interrupted_tasks_and_resumes_pending_ones(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    from server.services.agents import AgentDraft
    from server.services.task_types import GenerateInput

    first = Backend(settings.model_copy(update={"max_concurrent_tasks": 1}))
    await first.start()
    agent = await first.agents.create(AgentDraft(name="A", model_name="llama3.2:latest"))
    fake_ollama.token_delay = 0.05
    fake_ollama.replies.append(LONG_REPLY)
    running = await first.tasks.run(agent.id, GenerateInput(type="generate", prompt="one"))
    queued = await first.tasks.run(agent.id, GenerateInput(type="generate", prompt="two"))
    for _ in range(200):
        if (await first.tasks.get(running.id)).status == "running":
            break
        await asyncio.sleep(0.01)
    await first.tasks.stop()  # the app goes away with one task running and one queued
    async with first.sessions.begin() as session:  # as after a crash: the row still says running
        await session.execute(update(TaskRow).where(TaskRow.id == running.id).values(status="running"))
    await first.stop()

    fake_ollama.token_delay = 0
    second = Backend(settings)
    await second.start()
    try:
        interrupted = await second.tasks.get(running.id)
        assert interrupted.status == "failed"
        assert "The app stopped while this task was running" in (interrupted.error or "")
        for _ in range(500):
            resumed = await second.tasks.get(queued.id)
            if resumed.finished:
                break
            await asyncio.sleep(0.01)
        assert resumed.status == "completed"
    finally:
        await second.stop()
