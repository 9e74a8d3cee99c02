"""Agent management through the API: create (static, flat or nested config, dynamic), list
filters, get, update, delete, and every error a client can cause."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import create_agent

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from tests.fakes.ollama import FakeOllama

SPEC_FIELDS = {"id", "name", "description", "model_name", "config", "is_active", "created_at", "updated_at"}


async def test_create_static_agent_as_the_spec_shows(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    body = {
        "name": "Test Summarizer",
        "description": "Agent for testing text summarization",
        "model_name": "llama3.2:latest",
        "config": {"temperature": 0.3, "max_tokens": 500, "system_prompt": "Be concise."},
    }
    resp = await client.post("/api/v1/agents/create", json=body, headers=auth_headers)
    assert resp.status == 200
    agent = await resp.json()
    assert set(agent) >= SPEC_FIELDS
    assert agent["config"] == {"temperature": 0.3, "max_tokens": 500, "system_prompt": "Be concise."}
    assert agent["is_active"] is True
    assert agent["agent_type"] is None
    assert agent["created_at"].endswith("Z")


async def test_web_client_flat_config_lands_in_config(client: TestClient) -> None:
    agent = await create_agent(client, temperature=0.2, max_tokens=1000, system_prompt="Hi")
    assert agent["config"] == {"temperature": 0.2, "max_tokens": 1000, "system_prompt": "Hi"}


async def test_static_agent_config_gets_defaults_the_client_reads(client: TestClient) -> None:
    agent = await create_agent(client)
    assert agent["config"] == {"temperature": 0.7, "max_tokens": 1024, "system_prompt": ""}


async def test_dynamic_agent_keeps_its_own_config(client: TestClient, auth_headers: dict[str, str]) -> None:
    body = {
        "name": "Email Analyzer",
        "description": "Dynamic agent for analyzing emails",
        "agent_type": "email_analyzer",
        "config": {"importance_threshold": 0.7, "categories": ["urgent", "important", "normal"]},
    }
    resp = await client.post("/api/v1/agents/create", json=body, headers=auth_headers)
    assert resp.status == 200
    agent = await resp.json()
    assert agent["agent_type"] == "email_analyzer"
    assert agent["model_name"] is None
    assert agent["config"]["categories"] == ["urgent", "important", "normal"]


async def test_unknown_model_is_422_naming_the_installed_ones(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    resp = await client.post(
        "/api/v1/agents/create", json={"name": "x", "model_name": "gpt-5"}, headers=auth_headers
    )
    assert resp.status == 422
    (issue,) = (await resp.json())["detail"]
    assert issue["loc"] == ["body", "model_name"]
    assert "Model 'gpt-5' is not installed" in issue["msg"]
    assert "llama3.2:latest, qwen2.5:7b" in issue["msg"]


async def test_model_without_tag_matches_latest(client: TestClient) -> None:
    agent = await create_agent(client, model_name="llama3.2")
    assert agent["model_name"] == "llama3.2"


async def test_creating_while_ollama_is_down_is_503(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    resp = await client.post(
        "/api/v1/agents/create", json={"name": "x", "model_name": "llama3.2:latest"}, headers=auth_headers
    )
    assert resp.status == 503
    assert "Cannot check model 'llama3.2:latest'" in (await resp.json())["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"description": "no name", "model_name": "llama3.2:latest"}, ["body", "name"]),
        ({"name": "", "model_name": "llama3.2:latest"}, ["body", "name"]),
        ({"name": "x"}, ["body", "model_name"]),
        (
            {"name": "x", "model_name": "llama3.2:latest", "config": {"temperature": 5}},
            ["body", "config", "temperature"],
        ),
        ({"name": "x", "model_name": "llama3.2:latest", "colour": "red"}, ["body", "colour"]),
        ({"name": "x", "agent_type": "bad type!"}, ["body", "agent_type"]),
    ],
)
async def test_bad_agents_are_422_pointing_at_the_field(
    client: TestClient, auth_headers: dict[str, str], body: dict[str, object], where: list[str]
) -> None:
    resp = await client.post("/api/v1/agents/create", json=body, headers=auth_headers)
    assert resp.status == 422
    assert where in [issue["loc"] for issue in (await resp.json())["detail"]]


async def test_duplicate_name_is_409(client: TestClient, auth_headers: dict[str, str]) -> None:
    await create_agent(client, name="Twin")
    resp = await client.post(
        "/api/v1/agents/create", json={"name": "Twin", "model_name": "llama3.2:latest"}, headers=auth_headers
    )
    assert resp.status == 409
    assert "already exists" in (await resp.json())["detail"]


async def test_create_needs_credentials(client: TestClient) -> None:
    resp = await client.post("/api/v1/agents/create", json={"name": "x", "model_name": "llama3.2:latest"})
    assert resp.status == 401


async def test_list_is_a_bare_array_newest_first(client: TestClient) -> None:
    first = await create_agent(client, name="First")
    second = await create_agent(client, name="Second")
    agents = await (await client.get("/api/v1/agents")).json()
    assert isinstance(agents, list)
    assert [agent["id"] for agent in agents] == [second["id"], first["id"]]


async def test_list_filters(client: TestClient, auth_headers: dict[str, str]) -> None:
    static = await create_agent(client, name="Static")
    idle = await create_agent(client, name="Idle", is_active=False)
    dynamic = await create_agent(client, name="Dyn", model_name=None, agent_type="email_analyzer")

    async def ids(**params: object) -> list[str]:
        resp = await client.get("/api/v1/agents", params={k: str(v).lower() for k, v in params.items()})
        return sorted(agent["id"] for agent in await resp.json())

    assert await ids(active_only=True) == sorted([static["id"], dynamic["id"]])
    assert await ids(include_dynamic=False) == sorted([static["id"], idle["id"]])
    assert await ids(agent_type="email_analyzer") == [dynamic["id"]]
    assert await ids(search="idl") == [idle["id"]]
    assert len(await ids(limit=2)) == 2
    assert len(await ids(limit=2, offset=2)) == 1


async def test_bad_list_parameters_are_422(client: TestClient) -> None:
    resp = await client.get("/api/v1/agents", params={"limit": "0"})
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["query", "limit"]


async def test_get_one_and_404(client: TestClient) -> None:
    agent = await create_agent(client)
    assert (await (await client.get(f"/api/v1/agents/{agent['id']}")).json())["name"] == "Summarizer"
    missing = await client.get("/api/v1/agents/00000000-0000-4000-8000-000000000000")
    assert missing.status == 404
    assert (await missing.json())["status_code"] == 404


async def test_update_is_partial_and_merges_config(client: TestClient, auth_headers: dict[str, str]) -> None:
    agent = await create_agent(client, config={"temperature": 0.3, "system_prompt": "A"})
    resp = await client.put(f"/api/v1/agents/{agent['id']}", json={"is_active": False}, headers=auth_headers)
    assert resp.status == 200
    updated = await resp.json()
    assert updated["is_active"] is False
    assert updated["name"] == "Summarizer"
    resp = await client.put(
        f"/api/v1/agents/{agent['id']}", json={"temperature": 0.9, "name": "Renamed"}, headers=auth_headers
    )
    updated = await resp.json()
    assert updated["config"] == {"temperature": 0.9, "max_tokens": 1024, "system_prompt": "A"}
    assert updated["name"] == "Renamed"
    assert updated["updated_at"] >= agent["updated_at"]


async def test_update_errors(client: TestClient, auth_headers: dict[str, str]) -> None:
    agent = await create_agent(client)
    await create_agent(client, name="Other")
    url = f"/api/v1/agents/{agent['id']}"
    assert (await client.put(url, json={"model_name": "nope"}, headers=auth_headers)).status == 422
    assert (await client.put(url, json={"name": "Other"}, headers=auth_headers)).status == 409
    assert (await client.put(url, json={"name": "x"})).status == 401
    missing = "/api/v1/agents/00000000-0000-4000-8000-000000000000"
    assert (await client.put(missing, json={"name": "x"}, headers=auth_headers)).status == 404


async def test_delete_removes_the_agent(client: TestClient, auth_headers: dict[str, str]) -> None:
    agent = await create_agent(client)
    resp = await client.delete(f"/api/v1/agents/{agent['id']}", headers=auth_headers)
    assert resp.status == 200
    assert (await resp.json())["agent_id"] == agent["id"]
    assert (await client.get(f"/api/v1/agents/{agent['id']}")).status == 404
    assert (await client.delete(f"/api/v1/agents/{agent['id']}", headers=auth_headers)).status == 404
