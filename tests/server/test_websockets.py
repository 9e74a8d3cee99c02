"""WebSockets: auth, heartbeat, filters, task updates, limits and rate limits."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

from server.api import websockets
from server.api.app import create_app
from server.backend import Backend
from tests.conftest import API_KEY, create_agent, login

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.config import Settings
    from tests.fakes.ollama import FakeOllama


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of ``kind`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive_json()
            if message["type"] == kind:
                return dict(message)


async def test_a_missing_token_closes_with_1008(client: TestClient) -> None:
    ws = await client.ws_connect("/ws/logs")
    message = await ws.receive()
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1008


async def test_a_bad_token_closes_with_1008(client: TestClient) -> None:
    ws = await client.ws_connect("/ws/logs?token=nope")
    await ws.receive()
    assert ws.close_code == 1008


async def test_a_login_token_is_accepted_and_ping_gets_pong_with_timestamp(client: TestClient) -> None:
    token = await login(client)
    async with client.ws_connect(f"/ws/logs?token={token}") as ws:
        connected = await receive(ws, "connected")
        assert connected["filters"] == {"agent_id": None, "task_id": None, "level": None}
        await ws.send_json({"type": "ping"})
        pong = await receive(ws, "pong")
        assert pong["timestamp"].endswith("Z")


async def test_log_entries_arrive_in_the_spec_shape(client: TestClient, backend: Backend) -> None:
    async with client.ws_connect(f"/ws/logs?token={API_KEY}") as ws:
        await receive(ws, "connected")
        backend.logs.record("warning", "GPU at 85 C", source="system", agent_id=None, task_id=None)
        message = await receive(ws, "log_entry")
    data = message["data"]
    assert set(data) == {"timestamp", "level", "message", "agent_id", "task_id", "source"}
    assert (data["level"], data["message"], data["source"]) == ("warning", "GPU at 85 C", "system")


async def test_filters_from_the_url_and_update_filters(client: TestClient, backend: Backend) -> None:
    async with client.ws_connect(f"/ws/logs?token={API_KEY}&level=warning&agent_id=a1") as ws:
        await receive(ws, "connected")
        backend.logs.record("info", "too quiet", source="t", agent_id="a1")
        backend.logs.record("error", "other agent", source="t", agent_id="a2")
        backend.logs.record("error", "wanted", source="t", agent_id="a1")
        assert (await receive(ws, "log_entry"))["data"]["message"] == "wanted"
        await ws.send_json({"type": "update_filters", "filters": {"level": "info"}})
        assert (await receive(ws, "filters_updated"))["filters"]["level"] == "info"
        backend.logs.record("info", "now wanted", source="t", agent_id="a2")
        assert (await receive(ws, "log_entry"))["data"]["message"] == "now wanted"


async def test_web_client_token_after_a_second_question_mark_is_understood(
    client: TestClient, backend: Backend
) -> None:
    async with client.ws_connect(f"/ws/logs?level=error?token={API_KEY}") as ws:
        connected = await receive(ws, "connected")
        assert connected["filters"]["level"] == "error"


async def test_a_bad_filter_is_an_error_then_close(client: TestClient) -> None:
    ws = await client.ws_connect(f"/ws/logs?token={API_KEY}&level=loud")
    error = await receive(ws, "error")
    assert "level must be one of" in error["message"]
    await ws.receive()
    assert ws.close_code == 1008


async def test_unknown_and_malformed_messages_get_an_error(client: TestClient) -> None:
    async with client.ws_connect(f"/ws/logs?token={API_KEY}") as ws:
        await ws.send_json({"type": "dance"})
        assert "Unknown message type 'dance'" in (await receive(ws, "error"))["message"]
        await ws.send_str("not json")
        assert "must be JSON" in (await receive(ws, "error"))["message"]


async def test_task_socket_sends_status_progress_and_complete_then_closes(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    agent = await create_agent(client)
    fake_ollama.token_delay = 0.01
    fake_ollama.replies.append(" ".join(["word"] * 60))
    resp = await client.post(
        "/api/v1/tasks/run",
        json={"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}},
        headers=auth_headers,
    )
    task_id = (await resp.json())["id"]
    kinds = []
    async with client.ws_connect(f"/ws/tasks/{task_id}?token={API_KEY}") as ws:
        first = await ws.receive_json()
        assert first["type"] == "task_status"
        assert set(first["data"]) >= {"task_id", "status", "progress", "message", "timestamp"}
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            body = message.json()
            kinds.append(body["type"])
            if body["type"] == "task_complete":
                complete = body["data"]
    assert "task_progress" in kinds
    assert kinds[-1] == "task_complete"
    assert complete["status"] == "completed"
    assert complete["output"]["response"] == " ".join(["word"] * 60)
    assert ws.closed


async def test_task_socket_of_a_finished_task_sends_complete_at_once(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    agent = await create_agent(client)
    resp = await client.post(
        "/api/v1/tasks/run",
        json={"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}},
        headers=auth_headers,
    )
    task_id = (await resp.json())["id"]
    from tests.conftest import wait_for_task

    await wait_for_task(client, task_id)
    async with client.ws_connect(f"/ws/tasks/{task_id}?token={API_KEY}") as ws:
        assert (await ws.receive_json())["type"] == "task_status"
        assert (await ws.receive_json())["type"] == "task_complete"
        assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE


async def test_task_socket_of_an_unknown_task_closes_4404(client: TestClient) -> None:
    ws = await client.ws_connect(f"/ws/tasks/nope?token={API_KEY}")
    assert "No task with id nope" in (await receive(ws, "error"))["message"]
    await ws.receive()
    assert ws.close_code == 4404


async def test_logs_socket_reports_task_state_changes(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    agent = await create_agent(client)
    async with client.ws_connect(f"/ws/logs?token={API_KEY}&agent_id={agent['id']}") as ws:
        await receive(ws, "connected")
        await client.post(
            "/api/v1/tasks/run",
            json={"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}},
            headers=auth_headers,
        )
        statuses = []
        while "completed" not in statuses:
            statuses.append((await receive(ws, "task_update"))["data"]["status"])
    assert statuses == ["pending", "running", "completed"]


async def test_silence_past_the_idle_timeout_closes_the_socket(
    aiohttp_client: Any, settings: Settings
) -> None:
    backend = Backend(settings.model_copy(update={"ws_idle_timeout": 0.3}))
    await backend.start()
    try:
        client = await aiohttp_client(create_app(backend))
        ws = await client.ws_connect(f"/ws/logs?token={API_KEY}")
        await receive(ws, "connected")
        message = await asyncio.wait_for(ws.receive(), 5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == websockets.CLOSE_IDLE
    finally:
        await backend.stop()


async def test_more_than_100_messages_a_minute_are_refused_with_retry_after(client: TestClient) -> None:
    async with client.ws_connect(f"/ws/logs?token={API_KEY}") as ws:
        for _ in range(101):
            await ws.send_json({"type": "ping"})
        error = await receive(ws, "error")
    assert error["message"] == "Rate limit exceeded. Please wait before sending more messages."
    assert 1 <= error["retry_after"] <= 60


async def test_the_51st_socket_of_one_user_is_refused(client: TestClient) -> None:
    sockets = [await client.ws_connect(f"/ws/logs?token={API_KEY}") for _ in range(websockets.LIMIT_PER_USER)]
    for ws in sockets:
        await receive(ws, "connected")
    extra = await client.ws_connect(f"/ws/logs?token={API_KEY}")
    assert "Connection limit reached" in (await receive(extra, "error"))["message"]
    await extra.receive()
    assert extra.close_code == 1013
    await sockets[0].close()
    again = await client.ws_connect(f"/ws/logs?token={API_KEY}")
    await receive(again, "connected")
    for ws in [*sockets[1:], again]:
        await ws.close()
