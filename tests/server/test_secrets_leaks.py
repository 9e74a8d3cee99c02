"""No secret value leaks: known values go in through every door, tasks use them, requests fail around
them; then the database files, every other file in the data dir, the log output and every response
are searched for the plaintext. Only the two deliberate reveals may show a value."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tests.conftest import create_agent, wait_for_task

if TYPE_CHECKING:
    import pytest
    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from server.config import Settings
    from tests.fakes.ollama import FakeOllama

# Each distinct, and unlikely to appear anywhere by chance.
IN_AGENT = "leakcheck-in-agent-7f3a91"
POSTED = "leakcheck-posted-1c0de5"
UPDATED = "leakcheck-updated-99b2e0"
REFUSED_422 = "leakcheck-refused-422-5a5a"
REFUSED_409 = "leakcheck-refused-409-6b6b"
VALUES = (IN_AGENT, POSTED, UPDATED, REFUSED_422, REFUSED_409)


class Recorder:
    """Makes requests and keeps every response body."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.bodies: list[str] = []

    async def __call__(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        resp = await self.client.request(method, path, headers=self.headers, **kwargs)
        text = await resp.text()
        self.bodies.append(f"{method} {path} -> {resp.status}\n{dict(resp.headers)}\n{text}")
        return resp.status, (await resp.json()) if resp.content_type == "application/json" else text


async def test_no_value_appears_in_the_database_files_logs_or_responses(
    client: TestClient,
    auth_headers: dict[str, str],
    backend: Backend,
    settings: Settings,
    fake_ollama: FakeOllama,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    call = Recorder(client, auth_headers)

    agent = await create_agent(
        client,
        name="Mailer",
        config={"system_prompt": "Password: {{secret:imap_password}}"},
        secrets=[{"key": "imap_password", "value": IN_AGENT}],
    )
    base = f"/api/v1/agents/{agent['id']}/secrets"
    status, created = await call("POST", base, json={"secret_key": "api_token", "secret_value": POSTED})
    assert status == 201
    status, _ = await call("PUT", f"{base}/{created['id']}", json={"secret_value": UPDATED})
    assert status == 200

    # Refused requests that carry values.
    status, _ = await call("POST", base, json={"secret_key": "bad key!", "secret_value": REFUSED_422})
    assert status == 422
    status, _ = await call("POST", base, json={"secret_key": "api_token", "secret_value": REFUSED_409})
    assert status == 409
    status, _ = await call(
        "POST",
        "/api/v1/agents/create",
        json={
            "name": "Mailer",
            "model_name": "llama3.2:latest",
            "secrets": [{"key": "k", "value": REFUSED_409}],
        },
    )
    assert status == 409  # the name is taken: neither the agent nor its secret is stored

    # Tasks that use the secrets: one completes, one fails at Ollama, one names an unknown key.
    fake_ollama.replies.append("Done.")
    prompt = {"type": "generate", "prompt": "Call the API with {{secret:api_token}}"}
    status, ok = await call("POST", "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": prompt})
    assert (await wait_for_task(client, ok["id"]))["status"] == "completed"
    fake_ollama.fail_status = 500
    status, failing = await call("POST", "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": prompt})
    assert (await wait_for_task(client, failing["id"]))["status"] == "failed"
    fake_ollama.fail_status = None
    unknown = {"type": "generate", "prompt": "{{secret:nope}} and {{secret:api_token}}"}
    status, missing = await call(
        "POST", "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": unknown}
    )
    assert (await wait_for_task(client, missing["id"]))["status"] == "failed"

    # Everything an operator or a script reads back, short of a deliberate reveal.
    for path in (
        base,
        f"{base}?include_inactive=true",
        f"{base}/{created['id']}",
        f"{base}/audit",
        f"/api/v1/agents/{agent['id']}",
        "/api/v1/agents",
        "/api/v1/tasks",
        f"/api/v1/tasks/{ok['id']}/status",
        f"/api/v1/tasks/{failing['id']}/status",
        f"/api/v1/tasks/{missing['id']}/status",
        f"/api/v1/logs/{ok['id']}",
        f"/api/v1/logs/{failing['id']}",
        "/api/v1/logs/history?limit=1000",
        "/openapi.json",
        "/api/v1/metrics",
    ):
        status, _ = await call("GET", path)
        assert status == 200, path
    status, _ = await call("DELETE", f"{base}/{created['id']}")
    assert status == 200

    # The deliberate reveals do show the values (so the checks below look at real plaintext).
    reveal = await client.get(f"{base}/imap_password/value", headers=auth_headers)
    assert (await reveal.json())["value"] == IN_AGENT
    generate_bodies = [body for _, path, body in fake_ollama.requests if path == "/api/generate"]
    assert generate_bodies[0]["system"] == f"Password: {IN_AGENT}"  # the model did get it, in memory

    await backend.logs.flush()
    files = {
        path.name: path.read_bytes()
        for path in settings.data_dir.rglob("*")
        if path.is_file() and path.name != "vault-master-key"
    }
    assert {"agentic.db", "agentic.db-wal"} <= set(files)
    logged = caplog.text
    for value in VALUES:
        for name, content in files.items():
            assert value.encode() not in content, f"{value} in {name}"
        assert value not in logged, f"{value} in the log output"
        for body in call.bodies:
            assert value not in body, f"{value} in a response:\n{body[:500]}"
