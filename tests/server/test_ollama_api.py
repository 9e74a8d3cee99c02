"""Ollama model management through the API, against the fake Ollama."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from server.api.app import create_app
from server.backend import Backend
from tests.conftest import bearer

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.config import Settings
    from tests.fakes.ollama import FakeOllama


async def test_models_list_has_the_spec_fields(client: TestClient) -> None:
    resp = await client.get("/api/v1/ollama/models")
    assert resp.status == 200
    models = (await resp.json())["models"]
    first = next(model for model in models if model["name"] == "llama3.2:latest")
    assert {"name", "size", "modified_at", "digest"} <= set(first)
    assert first["size"] == 2_019_393_189
    assert first["details"]["quantization_level"] == "Q4_K_M"


async def test_model_names_are_plain_strings_under_models(client: TestClient) -> None:
    body = await (await client.get("/api/v1/ollama/models/names")).json()
    assert body == {"models": ["llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest"]}


async def test_health_reports_models_and_default(client: TestClient) -> None:
    body = await (await client.get("/api/v1/ollama/health")).json()
    assert body["status"] == "healthy"
    assert body["models_available"] == 3
    assert body["default_model"] == "llama3.2:latest"


async def test_health_says_unhealthy_and_why_when_ollama_is_down(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    resp = await client.get("/api/v1/ollama/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "unhealthy"
    assert body["models_available"] == 0
    assert "not reachable" in body["detail"]


async def test_listing_models_while_ollama_is_down_is_503_with_advice(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    resp = await client.get("/api/v1/ollama/models/names")
    assert resp.status == 503
    assert "start it (ollama serve)" in (await resp.json())["detail"]


async def test_slow_ollama_is_a_503_not_a_hang(
    aiohttp_client: Any, settings: Settings, fake_ollama: FakeOllama
) -> None:
    backend = Backend(settings.model_copy(update={"ollama_timeout": 0.3}))
    await backend.start()
    try:
        client = await aiohttp_client(create_app(backend))
        fake_ollama.delay = 2.0
        resp = await client.get("/api/v1/ollama/models")
        assert resp.status == 503
        assert "did not answer in time" in (await resp.json())["detail"]
    finally:
        await backend.stop()


async def test_show_reports_capabilities(client: TestClient) -> None:
    body = await (await client.get("/api/v1/ollama/show/llama3.2:latest")).json()
    assert body["capabilities"] == ["completion", "tools"]
    assert body["context_length"] == 8192


async def test_show_of_a_missing_model_is_404_saying_how_to_pull(client: TestClient) -> None:
    resp = await client.get("/api/v1/ollama/show/nope:1b")
    assert resp.status == 404
    assert "/api/v1/ollama/models/pull/nope:1b" in (await resp.json())["detail"]


async def test_pull_needs_credentials(client: TestClient) -> None:
    assert (await client.post("/api/v1/ollama/models/pull/mistral:7b")).status == 401


async def test_pull_runs_in_the_background_and_installs_the_model(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.post("/api/v1/ollama/models/pull/mistral:7b", headers=auth_headers)
    assert resp.status == 202
    assert await resp.json() == {
        "status": "pulling",
        "message": "Pulling mistral:7b: follow it in the log or at /api/v1/ollama/pulls",
        "model_name": "mistral:7b",
    }
    for _ in range(200):
        names = (await (await client.get("/api/v1/ollama/models/names")).json())["models"]
        if "mistral:7b" in names:
            break
        await asyncio.sleep(0.02)
    assert "mistral:7b" in names
    logs = await (await client.get("/api/v1/logs/history", params={"search": "mistral"})).json()
    assert any(entry["message"] == "Pulled model mistral:7b" for entry in logs)


async def test_a_failed_pull_is_logged_as_an_error(client: TestClient, auth_headers: dict[str, str]) -> None:
    await client.post("/api/v1/ollama/models/pull/no-such-model", headers=auth_headers)
    for _ in range(200):
        logs = await (await client.get("/api/v1/logs/history", params={"level": "error"})).json()
        if logs:
            break
        await asyncio.sleep(0.02)
    assert "file does not exist" in logs[0]["message"]
    assert logs[0]["source"] == "ollama"


async def test_a_second_pull_of_the_same_model_is_a_conflict(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    fake_ollama.token_delay = 0.2
    assert (await client.post("/api/v1/ollama/models/pull/mistral:7b", headers=auth_headers)).status == 202
    again = await client.post("/api/v1/ollama/models/pull/mistral:7b", headers=auth_headers)
    assert again.status == 409
    pulls = await (await client.get("/api/v1/ollama/pulls")).json()
    assert [pull["model_name"] for pull in pulls] == ["mistral:7b"]
    assert (await client.delete("/api/v1/ollama/pulls/mistral:7b", headers=auth_headers)).status == 204
    assert await (await client.get("/api/v1/ollama/pulls")).json() == []


async def test_delete_removes_a_model(client: TestClient, auth_headers: dict[str, str]) -> None:
    resp = await client.delete("/api/v1/ollama/models/qwen2.5:7b", headers=auth_headers)
    assert resp.status == 200
    assert await resp.json() == {"status": "deleted", "model_name": "qwen2.5:7b"}
    names = (await (await client.get("/api/v1/ollama/models/names")).json())["models"]
    assert "qwen2.5:7b" not in names
    assert (
        await client.delete("/api/v1/ollama/models/qwen2.5:7b", headers=bearer("test-api-key-0123456789"))
    ).status == 404
