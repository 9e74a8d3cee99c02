"""The /integration routes: register, list, test and remove Ollama hosts; routing; stats; the socket."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from sqlalchemy import select

from server.api.app import create_app
from server.backend import Backend
from server.db.models import OllamaHostRow
from tests.conftest import API_KEY, bearer, login
from tests.fakes.ollama import FakeModel, FakeOllama

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp
    from aiohttp.test_utils import TestClient

    from server.config import Settings

MODEL = "llama3.2:latest"
TOKEN = "agentic-server-token-abcdef123456"


@pytest.fixture
async def second_fake() -> AsyncIterator[FakeOllama]:
    fake = FakeOllama(models=[FakeModel("mistral:7b")])
    fake.loaded["mistral:7b"] = "2099-01-01T00:00:00Z"
    await fake.start()
    yield fake
    await fake.stop()


async def register(client: TestClient, headers: dict[str, str], **fields: Any) -> Any:
    return await client.post("/api/v1/integration/backends/register", json=fields, headers=headers)


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of ``kind`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive_json()
            if message["type"] == kind:
                return dict(message)


async def test_the_settings_host_is_listed_with_its_probe(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.get("/api/v1/integration/backends", headers=auth_headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 1
    (host,) = body["backends"]
    assert (host["id"], host["builtin"], host["status"]) == ("default", True, "healthy")
    assert host["models"] == sorted(["llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest"])
    assert host["version"] == "0.12.6"


async def test_register_probes_the_host_and_never_echoes_the_token(
    client: TestClient, auth_headers: dict[str, str], second_fake: FakeOllama, backend: Backend
) -> None:
    resp = await register(
        client,
        auth_headers,
        id="gpu-2",
        url=second_fake.url + "/",
        supported_request_types=["chat", "task"],
        max_concurrent_requests=2,
        weight=2,
        agentic_url="http://127.0.0.1:9/",
        agentic_token=TOKEN,
    )
    assert resp.status == 201, await resp.text()
    host = await resp.json()
    assert (host["id"], host["url"], host["status"]) == ("gpu-2", second_fake.url, "healthy")
    assert host["models"] == ["mistral:7b"]
    assert host["loaded_models"] == ["mistral:7b"]
    assert host["vram_used"] == second_fake.models[0].size
    assert host["has_agentic_token"] is True
    assert TOKEN not in await resp.text()
    listing = await client.get("/api/v1/integration/backends", headers=auth_headers)
    assert [item["id"] for item in (await listing.json())["backends"]] == ["default", "gpu-2"]
    assert TOKEN not in await listing.text()
    async with backend.sessions() as session:
        row = (await session.scalars(select(OllamaHostRow))).one()
    assert row.agentic_token_encrypted
    assert TOKEN not in row.agentic_token_encrypted
    assert await backend.router.agentic_server("gpu-2") == ("http://127.0.0.1:9", TOKEN)
    assert await backend.router.agentic_server("default") is None
    # The new host serves the model only it has.
    route = await client.post(
        "/api/v1/integration/load-balance/route",
        json={"request_type": "chat", "data": {"model": "mistral:7b"}},
        headers=auth_headers,
    )
    answer = await route.json()
    assert answer["backend_id"] == "gpu-2"
    assert "loaded" in answer["reason"]
    by_type = await client.post(
        "/api/v1/integration/load-balance/wizard", json={"model": "mistral:7b"}, headers=auth_headers
    )
    fallback = await by_type.json()
    # gpu-2 takes no wizard calls; default lacks the model, so its own "not installed" would answer.
    assert fallback["backend_id"] == "default"
    assert "no reachable host lists mistral:7b" in fallback["reason"]


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"id": "x", "url": "ftp://127.0.0.1:1"}, 422, "http://"),
        ({"id": "x", "url": "not a url"}, 422, "http://"),
        ({"id": "x", "url": "http://127.0.0.1:99999"}, 422, "Port"),
        ({"id": "bad id!", "url": "http://127.0.0.1:1"}, 422, "letters"),
        ({"id": "x", "url": "http://127.0.0.1:1", "max_concurrent_requests": 0}, 422, "greater"),
        ({"id": "default", "url": "http://127.0.0.1:1"}, 409, "already registered"),
        ({"url": "http://127.0.0.1:1"}, 422, "id"),
    ],
)
async def test_bad_registrations_are_refused_clearly(
    client: TestClient, auth_headers: dict[str, str], fields: dict[str, Any], status: int, words: str
) -> None:
    resp = await register(client, auth_headers, **fields)
    assert resp.status == status
    assert words in str((await resp.json())["detail"])
    listing = await (await client.get("/api/v1/integration/backends", headers=auth_headers)).json()
    assert listing["total"] == 1  # nothing half-written


async def test_duplicates_and_unknown_ids(
    client: TestClient, auth_headers: dict[str, str], second_fake: FakeOllama, fake_ollama: FakeOllama
) -> None:
    assert (await register(client, auth_headers, id="b", url=second_fake.url)).status == 201
    again = await register(client, auth_headers, id="b", url="http://127.0.0.2:1")
    assert again.status == 409
    same_url = await register(client, auth_headers, id="c", url=fake_ollama.url)
    assert same_url.status == 409
    assert "'default'" in (await same_url.json())["detail"]
    unknown = await client.delete("/api/v1/integration/backends/nope", headers=auth_headers)
    assert unknown.status == 404
    assert "nope" in (await unknown.json())["detail"]
    builtin = await client.delete("/api/v1/integration/backends/default", headers=auth_headers)
    assert builtin.status == 409
    assert "OLLAMA_HOST" in (await builtin.json())["detail"]
    removed = await client.delete("/api/v1/integration/backends/b", headers=auth_headers)
    assert removed.status == 200
    listing = await (await client.get("/api/v1/integration/backends", headers=auth_headers)).json()
    assert [item["id"] for item in listing["backends"]] == ["default"]


async def test_a_server_that_is_not_ollama_is_registered_as_down(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>not ollama</html>")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        resp = await register(client, auth_headers, id="web", url=f"http://127.0.0.1:{port}")
        assert resp.status == 201
        host = await resp.json()
        assert host["status"] == "down"
        assert "does not answer like Ollama" in host["reason"]
    finally:
        await runner.cleanup()


async def test_only_superusers_change_hosts(client: TestClient, second_fake: FakeOllama) -> None:
    body = {"username": "viewer", "password": "viewer-password-1", "is_superuser": False}
    assert (await client.post("/api/v1/auth/users", json=body, headers=bearer(API_KEY))).status == 201
    viewer = bearer(await login(client, "viewer", "viewer-password-1"))
    assert (await register(client, viewer, id="b", url=second_fake.url)).status == 403
    assert (await client.delete("/api/v1/integration/backends/default", headers=viewer)).status == 403
    assert (await client.get("/api/v1/integration/backends", headers=viewer)).status == 200
    assert (await client.get("/api/v1/integration/backends")).status == 401


async def test_hosts_survive_a_restart(
    aiohttp_client: Any, settings: Settings, second_fake: FakeOllama, auth_headers: dict[str, str]
) -> None:
    first = Backend(settings)
    await first.start()
    try:
        client = await aiohttp_client(create_app(first))
        resp = await register(client, auth_headers, id="b", url=second_fake.url, max_concurrent_requests=7)
        assert resp.status == 201
    finally:
        await first.stop()
    again = Backend(settings)
    await again.start()
    try:
        (view,) = [view for view in again.router.views() if view.id == "b"]
        assert (view.url, view.max_concurrent, view.state) == (second_fake.url, 7, "healthy")
        assert view.models == ("mistral:7b",)
    finally:
        await again.stop()


async def test_stats_and_health_follow_real_calls(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert (await client.post("/v1/chat/completions", json=body, headers=auth_headers)).status == 200
    stats = await (await client.get("/api/v1/integration/load-balancer/stats", headers=auth_headers)).json()
    assert stats["total_requests"] == 1
    assert stats["successful_requests"] == 1
    assert stats["backends"][0]["requests"] == 1
    assert stats["decision_latency"]["samples"] >= 1
    health = await (await client.get("/api/v1/integration/load-balancer/health", headers=auth_headers)).json()
    assert health["status"] == "healthy"
    await fake_ollama.stop()
    await client.post("/api/v1/integration/backends/default/test", headers=auth_headers)
    health = await (await client.get("/api/v1/integration/load-balancer/health", headers=auth_headers)).json()
    assert health["status"] == "unhealthy"
    assert "not reachable" in health["backends"]["default"]["reason"]


async def test_the_websocket_streams_host_state_changes(
    client: TestClient, auth_headers: dict[str, str], second_fake: FakeOllama, fake_ollama: FakeOllama
) -> None:
    async with client.ws_connect(f"/ws/load-balancing?token={API_KEY}") as ws:
        current = await receive(ws, "host_state")
        assert (current["data"]["host_id"], current["data"]["state"]) == ("default", "healthy")
        assert (await register(client, auth_headers, id="b", url=second_fake.url)).status == 201
        added = await receive(ws, "host_state")
        assert (added["data"]["host_id"], added["data"]["previous"]) == ("b", None)
        await fake_ollama.stop()
        resp = await client.post("/api/v1/integration/backends/default/test", headers=auth_headers)
        assert (await resp.json())["status"] == "down"
        while True:
            change = await receive(ws, "host_state")
            if change["data"]["host_id"] == "default":
                break
        assert (change["data"]["previous"], change["data"]["state"]) == ("healthy", "down")
        assert "not reachable" in change["data"]["reason"]


async def test_the_websocket_needs_a_token(client: TestClient) -> None:
    ws = await client.ws_connect("/ws/load-balancing")
    await ws.receive()
    assert ws.close_code == 1008


async def test_a_down_hosts_reason_says_where_to_fix_it(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama, second_fake: FakeOllama
) -> None:
    """The settings' host is fixed with OLLAMA_HOST; a registered host in the Hosts panel."""
    assert (await register(client, auth_headers, id="b", url=second_fake.url)).status == 201
    await second_fake.stop()
    await fake_ollama.stop()
    cases = (("b", "Hosts panel", "OLLAMA_HOST"), ("default", "OLLAMA_HOST", "Hosts panel"))
    for host_id, hint, wrong in cases:
        resp = await client.post(f"/api/v1/integration/backends/{host_id}/test", headers=auth_headers)
        body = await resp.json()
        assert body["status"] == "down"
        assert hint in body["reason"]
        assert wrong not in body["reason"]
