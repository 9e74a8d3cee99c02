"""Task logs, log history with filters, and a task's log as server-sent events."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import create_agent, wait_for_task

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from tests.fakes.ollama import FakeOllama


@pytest.fixture
async def finished_task(client: TestClient, auth_headers: dict[str, str]) -> dict[str, Any]:
    agent = await create_agent(client)
    resp = await client.post(
        "/api/v1/tasks/run",
        json={"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}},
        headers=auth_headers,
    )
    return await wait_for_task(client, (await resp.json())["id"])


async def test_task_log_tells_the_story_oldest_first(
    client: TestClient, finished_task: dict[str, Any]
) -> None:
    entries = await (await client.get(f"/api/v1/logs/{finished_task['id']}")).json()
    messages = [entry["message"] for entry in entries]
    assert messages[0] == "Queued generate task"
    assert messages[1] == "Running generate for agent Summarizer with model llama3.2:latest"
    assert messages[-1].startswith("Completed in ")
    first = entries[0]
    assert set(first) == {"timestamp", "level", "message", "agent_id", "task_id", "source"}
    assert first["level"] == "info"
    assert first["source"] == "task"
    assert first["task_id"] == finished_task["id"]
    assert first["agent_id"] == finished_task["agent_id"]


async def test_log_of_an_unknown_task_is_404(client: TestClient) -> None:
    assert (await client.get("/api/v1/logs/nope")).status == 404


async def test_history_filters_by_level_search_and_ids(client: TestClient, backend: Backend) -> None:
    backend.logs.record("debug", "disk almost full", source="system")
    backend.logs.record("warning", "GPU hot", source="system")
    backend.logs.record("error", "Task failed: model vanished", source="task")

    async def messages(**params: str) -> list[str]:
        return [
            entry["message"]
            for entry in await (await client.get("/api/v1/logs/history", params=params)).json()
        ]

    assert await messages() == ["Task failed: model vanished", "GPU hot", "disk almost full"]
    assert await messages(level="warning") == ["Task failed: model vanished", "GPU hot"]
    assert await messages(search="FAILED") == ["Task failed: model vanished"]
    assert await messages(search="100%_") == []
    assert await messages(limit="1", offset="1") == ["GPU hot"]
    assert await messages(agent_id="nobody") == []


async def test_history_rejects_an_unknown_level(client: TestClient) -> None:
    resp = await client.get("/api/v1/logs/history", params={"level": "loud"})
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["query", "level"]


async def test_stream_replays_then_follows_then_ends(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    agent = await create_agent(client)
    fake_ollama.token_delay = 0.02
    resp = await client.post(
        "/api/v1/tasks/run",
        json={"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}},
        headers=auth_headers,
    )
    task_id = (await resp.json())["id"]
    stream = await client.get(f"/api/v1/logs/stream/{task_id}")
    assert stream.status == 200
    assert stream.content_type == "text/event-stream"
    text = (await stream.read()).decode()
    events = [block for block in text.split("\n\n") if block.strip() and not block.startswith(":")]
    data = [json.loads(block.split("data: ", 1)[1]) for block in events]
    assert data[0]["message"] == "Queued generate task"
    assert any(item.get("message", "").startswith("Completed in") for item in data)
    assert events[-1].startswith("event: end")
    assert data[-1]["status"] == "completed"
    messages = [item["message"] for item in data[:-1]]
    assert len(messages) == len(set(messages))


async def test_stream_of_an_unknown_task_is_404(client: TestClient) -> None:
    assert (await client.get("/api/v1/logs/stream/nope")).status == 404
