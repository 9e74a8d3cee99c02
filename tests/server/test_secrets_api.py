"""The secrets vault through the API: every endpoint and error, soft delete, agents created with
secrets (all or nothing), the audit trail, and {{secret:KEY}} resolved in tasks."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import ADMIN_USER, bearer, create_agent, login, wait_for_task

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from server.config import Settings
    from tests.fakes.ollama import FakeOllama

PASSWORD = "hunter2-imap-password"


def secrets_url(agent_id: str, rest: str = "") -> str:
    return f"/api/v1/agents/{agent_id}/secrets{rest}"


async def add_secret(
    client: TestClient,
    agent_id: str,
    headers: dict[str, str],
    key: str = "imap_password",
    value: str = PASSWORD,
) -> dict[str, Any]:
    body = {"secret_key": key, "secret_value": value, "description": "IMAP mailbox password"}
    resp = await client.post(secrets_url(agent_id), json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


@pytest.fixture
async def agent(client: TestClient) -> dict[str, Any]:
    return await create_agent(client, config={"system_prompt": "Be brief."})


SECRET_FIELDS = {
    "id",
    "secret_id",
    "agent_id",
    "secret_key",
    "description",
    "is_active",
    "created_at",
    "updated_at",
}


async def test_create_list_get_update_and_soft_delete(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str]
) -> None:
    created = await add_secret(client, agent["id"], auth_headers)
    assert set(created) == SECRET_FIELDS
    assert created["secret_id"] == created["id"]
    assert (created["secret_key"], created["is_active"]) == ("imap_password", True)

    listed = await (await client.get(secrets_url(agent["id"]))).json()  # the spec: no auth to list
    assert listed == {"secrets": [created], "total_count": 1}

    detail = await (
        await client.get(secrets_url(agent["id"], f"/{created['id']}"), headers=auth_headers)
    ).json()
    assert detail["encrypted_value"].startswith("gAAAAA")  # a Fernet token
    assert detail["decrypted_value"] is None
    revealed = await (
        await client.get(secrets_url(agent["id"], f"/{created['id']}?decrypt=true"), headers=auth_headers)
    ).json()
    assert revealed["decrypted_value"] == PASSWORD
    by_key = await (
        await client.get(secrets_url(agent["id"], "/imap_password/value"), headers=auth_headers)
    ).json()
    assert by_key == {"secret_key": "imap_password", "value": PASSWORD}

    resp = await client.put(
        secrets_url(agent["id"], f"/{created['id']}"),
        json={"secret_value": "new-password", "description": "Rotated"},
        headers=auth_headers,
    )
    assert resp.status == 200
    assert (await resp.json())["description"] == "Rotated"
    by_key = await (
        await client.get(secrets_url(agent["id"], "/imap_password/value"), headers=auth_headers)
    ).json()
    assert by_key["value"] == "new-password"

    resp = await client.delete(secrets_url(agent["id"], f"/{created['id']}"), headers=auth_headers)
    assert resp.status == 200
    assert await resp.json() == {"message": "Secret 'imap_password' deleted", "secret_id": created["id"]}
    assert await (await client.get(secrets_url(agent["id"]))).json() == {"secrets": [], "total_count": 0}
    inactive = await (await client.get(secrets_url(agent["id"], "?include_inactive=true"))).json()
    assert [(s["secret_key"], s["is_active"]) for s in inactive["secrets"]] == [("imap_password", False)]
    resp = await client.get(secrets_url(agent["id"], "/imap_password/value"), headers=auth_headers)
    assert resp.status == 404  # a deleted secret is not usable
    resp = await client.delete(secrets_url(agent["id"], f"/{created['id']}"), headers=auth_headers)
    assert resp.status == 404

    again = await add_secret(client, agent["id"], auth_headers, value="third-password")
    assert again["id"] == created["id"]  # the deleted key comes back
    assert again["is_active"]


async def test_errors_are_clear(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str]
) -> None:
    created = await add_secret(client, agent["id"], auth_headers)
    duplicate = await client.post(
        secrets_url(agent["id"]),
        json={"secret_key": "imap_password", "secret_value": "x"},
        headers=auth_headers,
    )
    assert duplicate.status == 409
    detail = (await duplicate.json())["detail"]
    assert isinstance(detail, str)
    assert "already has a secret 'imap_password'" in detail

    unknown_agent = await client.post(
        secrets_url("no-such-agent"), json={"secret_key": "k", "secret_value": "v"}, headers=auth_headers
    )
    assert unknown_agent.status == 404
    assert (await client.get(secrets_url("no-such-agent"))).status == 404
    unknown_secret = await client.get(secrets_url(agent["id"], "/no-such-secret"), headers=auth_headers)
    assert unknown_secret.status == 404
    assert "no secret with id no-such-secret" in (await unknown_secret.json())["detail"]

    for body, field in (
        ({"secret_key": "has space", "secret_value": "v"}, "secret_key"),
        ({"secret_key": "k", "secret_value": ""}, "secret_value"),
        ({"secret_key": "k"}, "secret_value"),
        ({"secret_key": "k", "secret_value": "v", "extra": 1}, "extra"),
    ):
        resp = await client.post(secrets_url(agent["id"]), json=body, headers=auth_headers)
        assert resp.status == 422, body
        assert (await resp.json())["detail"][0]["loc"] == ["body", field]
    other_agent = await create_agent(client, name="Other")
    resp = await client.get(secrets_url(other_agent["id"], f"/{created['id']}"), headers=auth_headers)
    assert resp.status == 404  # a secret is reached through its own agent only


@pytest.mark.parametrize(
    ("method", "rest"),
    [("POST", ""), ("GET", "/x"), ("PUT", "/x"), ("DELETE", "/x"), ("GET", "/k/value"), ("GET", "/audit")],
)
async def test_everything_but_the_list_needs_credentials(
    client: TestClient, agent: dict[str, Any], method: str, rest: str
) -> None:
    resp = await client.request(method, secrets_url(agent["id"], rest), json={})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_agent_is_created_with_its_secrets_or_not_at_all(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    agent = await create_agent(
        client,
        name="Email Analyzer Agent",
        secrets=[
            {"key": "imap_password", "value": PASSWORD, "description": "IMAP mailbox password"},
            {"secret_key": "api_key", "secret_value": "sk-1234567890abcdef"},
        ],
    )
    assert "secrets" not in agent
    listed = await (await client.get(secrets_url(agent["id"]))).json()
    assert [s["secret_key"] for s in listed["secrets"]] == ["api_key", "imap_password"]

    twice = [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]
    resp = await client.post(
        "/api/v1/agents/create",
        json={"name": "Twice", "model_name": "llama3.2:latest", "secrets": twice},
        headers=auth_headers,
    )
    assert resp.status == 409
    assert "given twice: k" in (await resp.json())["detail"]
    resp = await client.post(
        "/api/v1/agents/create",
        json={"name": "Empty", "model_name": "llama3.2:latest", "secrets": [{"key": "k", "value": ""}]},
        headers=auth_headers,
    )
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"][:3] == ["body", "secrets", 0]
    names = [a["name"] for a in await (await client.get("/api/v1/agents")).json()]
    assert names == ["Email Analyzer Agent"]  # neither refused agent exists


async def test_deleting_an_agent_removes_its_secrets_and_keeps_the_audit_trail(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], settings: Settings
) -> None:
    await add_secret(client, agent["id"], auth_headers)
    assert (await client.delete(f"/api/v1/agents/{agent['id']}", headers=auth_headers)).status == 200
    with sqlite3.connect(settings.data_dir / "agentic.db") as db:
        assert db.execute("SELECT count(*) FROM agent_secrets").fetchone() == (0,)
    trail = await (await client.get(secrets_url(agent["id"], "/audit"), headers=auth_headers)).json()
    assert [entry["action"] for entry in trail] == ["create"]


async def test_the_audit_trail_records_who_did_what_through_which_door(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str]
) -> None:
    created = await add_secret(client, agent["id"], auth_headers)
    token = await login(client)
    one = secrets_url(agent["id"], f"/{created['id']}")
    await client.get(f"{one}?decrypt=true", headers=bearer(token))
    await client.get(one, headers=bearer(token))  # no decrypt: nothing to record
    await client.put(one, json={"description": "d"}, headers=auth_headers)
    await client.delete(one, headers=auth_headers)
    trail = await (await client.get(secrets_url(agent["id"], "/audit"), headers=auth_headers)).json()
    assert [(e["action"], e["actor"], e["via"]) for e in trail] == [
        ("delete", "api key", "api"),
        ("update", "api key", "api"),
        ("decrypt", ADMIN_USER, "api"),
        ("create", "api key", "api"),
    ]
    assert {e["secret_key"] for e in trail} == {"imap_password"}


async def test_tasks_resolve_secret_references_in_memory_only(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama, backend: Backend
) -> None:
    agent = await create_agent(
        client,
        config={"system_prompt": "Log in with {{secret:imap_password}}."},
        secrets=[{"key": "imap_password", "value": PASSWORD}, {"key": "folder", "value": "INBOX/Receipts"}],
    )
    fake_ollama.replies.append("Logged in.")
    task_input = {"type": "generate", "prompt": "Open {{ secret:folder }} and list it"}
    resp = await client.post(
        "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": task_input}, headers=auth_headers
    )
    done = await wait_for_task(client, (await resp.json())["id"])
    assert done["status"] == "completed", done
    assert done["input"]["prompt"] == task_input["prompt"]  # the stored input keeps the reference
    _, _, sent = next(r for r in fake_ollama.requests if r[1] == "/api/generate")
    assert sent["system"] == f"Log in with {PASSWORD}."
    assert sent["prompt"] == "Open INBOX/Receipts and list it"
    stored = await (await client.get(f"/api/v1/agents/{agent['id']}")).json()
    assert stored["config"]["system_prompt"] == "Log in with {{secret:imap_password}}."
    trail = await (await client.get(secrets_url(agent["id"], "/audit"), headers=auth_headers)).json()
    used = sorted((e["secret_key"], e["via"], e["actor"]) for e in trail if e["action"] == "decrypt")
    assert used == [("folder", "task", f"task {done['id']}"), ("imap_password", "task", f"task {done['id']}")]


async def test_an_unknown_secret_fails_the_task_naming_the_key(
    client: TestClient, agent: dict[str, Any], auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    resp = await client.post(
        "/api/v1/tasks/run",
        json={
            "agent_id": agent["id"],
            "input": {"type": "generate", "prompt": "use {{secret:missing_token}}"},
        },
        headers=auth_headers,
    )
    done = await wait_for_task(client, (await resp.json())["id"])
    assert done["status"] == "failed"
    assert "no secret 'missing_token'" in done["error"]
    assert not any(r[1] == "/api/generate" for r in fake_ollama.requests)  # never sent half-resolved
