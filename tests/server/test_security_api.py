"""Security through the API: policy and limits, incidents from real behaviour (timeouts, bursts,
injections, over-complex schemas, blocked tools, memory), filters, resolve, health, reports, levels."""

from __future__ import annotations

import asyncio
import tomllib
from typing import TYPE_CHECKING, Any

import pytest

from server.db.models import UserRow
from tests.conftest import bearer, create_agent, login, wait_for_task

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from server.config import Settings
    from tests.fakes.ollama import FakeOllama

INCIDENT_FIELDS = {
    "incident_id",
    "id",
    "agent_id",
    "agent_type",
    "violation_type",
    "severity",
    "description",
    "timestamp",
    "resolved",
    "resolution_notes",
    "resolved_at",
    "resolved_by",
}


async def incidents(client: TestClient, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    resp = await client.get(f"/api/v1/security/incidents{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def run_and_wait(client: TestClient, agent_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Queue a generate task and wait until it has finished."""
    resp = await client.post(
        "/api/v1/tasks/run",
        json={"agent_id": agent_id, "input": {"type": "generate", "prompt": "x"}},
        headers=headers,
    )
    return await wait_for_task(client, (await resp.json())["id"])


async def add_plain_user(
    backend: Backend, username: str = "viewer", password: str = "viewer-password-1"
) -> str:
    """A user who is not a superuser (user management arrives with its own issue)."""
    async with backend.sessions.begin() as session:
        session.add(UserRow(username=username, password_hash=await backend.auth.hash_password(password)))
    return password


async def test_limits_are_the_spec_table_at_the_moderate_level(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    limits = await (await client.get("/api/v1/security/limits", headers=auth_headers)).json()
    assert limits["level"] == "moderate"
    resources = limits["resource_limits"]
    assert (resources["max_concurrent_agents"], resources["max_execution_time"]) == (8, 1800)
    assert (resources["max_agent_memory_mb"], resources["max_request_size_bytes"]) == (8192, 1_048_576)
    assert limits["schema_limits"] == {
        "max_data_models": 5,
        "max_fields_per_model": 20,
        "max_pipeline_steps": 10,
        "max_tools": 8,
        "max_nesting_depth": 3,
        "max_field_name_length": 63,
    }
    rates = limits["rate_limits"]
    assert (rates["tool_execution_per_hour"], rates["agent_creation_per_hour"]) == (100, 10)
    assert rates["external_requests_per_hour"] == 1000
    assert limits["blocked_tool_types"] == ["system_command", "file_system", "network_scanner"]
    assert "api.openai.com" in limits["allowed_domains"]
    # What the web client's Security page draws as bars.
    assert limits["concurrent_agents"] == {"current": 0, "max": 8}
    assert limits["memory_usage"]["max_mb"] == 131_072
    assert limits["memory_usage"]["current_mb"] > 0


async def test_status_is_for_superusers_and_switches_the_level(
    client: TestClient, auth_headers: dict[str, str], backend: Backend, settings: Settings
) -> None:
    status = await (await client.get("/api/v1/security/status", headers=auth_headers)).json()
    assert set(status) >= {
        "active_agents",
        "total_incidents",
        "recent_incidents",
        "resource_limits",
        "current_usage",
    }
    assert status["resource_limits"] == {
        "max_concurrent_agents": 8,
        "max_memory_mb": 131_072,
        "max_execution_time": 1800,
    }
    assert status["secrets_backend"]["backend"] == "file"
    assert status["security_level"] == "moderate"

    password = await add_plain_user(backend)
    token = await login(client, "viewer", password)
    refused = await client.get("/api/v1/security/status", headers=bearer(token))
    assert refused.status == 403  # not 401: the web client logs out on any 401
    assert "not an administrator" in (await refused.json())["detail"]
    assert (await client.get("/api/v1/security/limits", headers=bearer(token))).status == 200
    refused = await client.post(
        "/api/v1/security/status", json={"security_level": "lenient"}, headers=bearer(token)
    )
    assert refused.status == 403

    changed = await client.post(
        "/api/v1/security/status", json={"security_level": "strict"}, headers=auth_headers
    )
    assert (await changed.json())["security_level"] == "strict"
    assert backend.security.policy.resource_limits.max_concurrent_agents == 4
    saved = tomllib.loads(settings.config_file.read_text())
    assert saved["security_level"] == "strict"  # and at the next start
    bad = await client.post("/api/v1/security/status", json={"security_level": "off"}, headers=auth_headers)
    assert bad.status == 422


async def test_health_needs_no_credentials_and_follows_open_serious_incidents(
    client: TestClient, auth_headers: dict[str, str], backend: Backend
) -> None:
    health = await (await client.get("/api/v1/security/health")).json()
    assert (health["status"], health["metrics"]["unresolved_high_severity"]) == ("healthy", 0)
    high = await backend.security.record("PERMISSION_DENIED", "tried something")
    health = await (await client.get("/api/v1/security/health")).json()
    assert (health["status"], health["message"]) == ("warning", "1 unresolved high security incident(s)")
    await backend.security.record("MALICIOUS_CONTENT", "payload")
    assert (await (await client.get("/api/v1/security/health")).json())["status"] == "critical"
    resp = await client.post(
        f"/api/v1/security/incidents/{high.id}/resolve",
        json={"resolution_notes": "checked"},
        headers=auth_headers,
    )
    assert resp.status == 200
    resolved = await resp.json()
    assert (resolved["resolved"], resolved["resolution_notes"], resolved["resolved_by"]) == (
        True,
        "checked",
        "api-key",
    )
    again = await client.post(
        f"/api/v1/security/incidents/{high.id}/resolve", json={"resolution_notes": "x"}, headers=auth_headers
    )
    assert again.status == 409
    missing = await client.post(
        "/api/v1/security/incidents/sec_1_nope/resolve", json={"resolution_notes": "x"}, headers=auth_headers
    )
    assert missing.status == 404
    empty = await client.post(
        f"/api/v1/security/incidents/{high.id}/resolve", json={"resolution_notes": ""}, headers=auth_headers
    )
    assert empty.status == 422


async def test_incidents_are_listed_newest_first_with_filters(
    client: TestClient, auth_headers: dict[str, str], backend: Backend
) -> None:
    agent = await create_agent(client)
    security = backend.security
    first = await security.record("RATE_LIMIT_EXCEEDED", "burst")
    second = await security.record("EXECUTION_TIMEOUT", "slow", agent_id=agent["id"])
    third = await security.record("PERMISSION_DENIED", "denied", agent_id=agent["id"])
    await security.resolve(first.id, "fine", "operator")

    page = await incidents(client, auth_headers)
    assert [i["incident_id"] for i in page["incidents"]] == [third.id, second.id, first.id]
    assert (page["total_count"], page["limit"], page["offset"]) == (3, 50, 0)
    assert set(page["incidents"][0]) == INCIDENT_FIELDS
    assert page["incidents"][0]["id"].startswith("sec_")
    assert page["incidents"][1]["severity"] == "medium"  # the spec's severity for a timeout

    assert [i["id"] for i in (await incidents(client, auth_headers, "?severity=high"))["incidents"]] == [
        third.id
    ]
    assert (await incidents(client, auth_headers, "?resolved=true"))["total_count"] == 1
    by_agent = await incidents(client, auth_headers, f"?agent_id={agent['id']}&limit=1")
    assert (by_agent["total_count"], len(by_agent["incidents"])) == (2, 1)
    assert by_agent["incidents"][0]["agent_type"] is None  # a static agent
    later = await incidents(
        client, auth_headers, f"?since={second.timestamp.isoformat().replace('+00:00', 'Z')}"
    )
    assert {i["id"] for i in later["incidents"]} == {second.id, third.id}
    assert (
        await client.get("/api/v1/security/incidents?severity=urgent", headers=auth_headers)
    ).status == 422
    assert (await client.get("/api/v1/security/incidents")).status == 401


async def test_a_task_past_its_timeout_is_an_execution_timeout_incident(
    client: TestClient, auth_headers: dict[str, str], backend: Backend, fake_ollama: FakeOllama
) -> None:
    agent = await create_agent(client)
    backend.tasks.timeout = 0.3
    fake_ollama.token_delay = 0.2
    fake_ollama.replies.append(" ".join(["slow"] * 20))
    done = await run_and_wait(client, agent["id"], auth_headers)
    assert done["status"] == "failed"
    assert "Timed out after 0.3 s" in done["error"]
    (incident,) = (await incidents(client, auth_headers, "?violation_type=EXECUTION_TIMEOUT"))["incidents"]
    assert incident["agent_id"] == agent["id"]
    assert done["id"] in incident["description"]


async def test_a_task_past_its_memory_limit_is_stopped_as_resource_exceeded(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    # This process already uses far more than 1 MB: the limit trips on the first reading.
    agent = await create_agent(client, config={"max_memory_mb": 1})
    fake_ollama.token_delay = 0.05
    fake_ollama.replies.append(" ".join(["word"] * 100))
    done = await run_and_wait(client, agent["id"], auth_headers)
    assert done["status"] == "failed"
    assert "went past the agent's limit of 1 MB" in done["error"]
    assert done["resource_usage"]["memory_limit_mb"] == 1
    assert done["resource_usage"]["memory_peak_mb"] > 1
    (incident,) = (await incidents(client, auth_headers, "?violation_type=RESOURCE_EXCEEDED"))["incidents"]
    assert incident["agent_id"] == agent["id"]


async def test_a_finished_task_records_its_resource_use_in_the_agent_report(
    client: TestClient, auth_headers: dict[str, str], fake_ollama: FakeOllama
) -> None:
    agent = await create_agent(client)
    fake_ollama.replies.append("fine")
    done = await run_and_wait(client, agent["id"], auth_headers)
    assert done["status"] == "completed"
    assert done["resource_usage"]["memory_peak_mb"] > 10
    assert done["resource_usage"]["execution_time"] > 0
    report = await (
        await client.get(f"/api/v1/security/agents/{agent['id']}/report", headers=auth_headers)
    ).json()
    assert report["agent_id"] == agent["id"]
    assert report["resource_usage"]["memory_peak_mb"] == done["resource_usage"]["memory_peak_mb"]
    assert report["resource_usage"]["tasks"] == 1
    assert (report["security_events"], report["incidents"], report["is_secure"]) == ([], [], True)
    missing = await client.get("/api/v1/security/agents/nope/report", headers=auth_headers)
    assert missing.status == 404


async def test_an_injection_in_a_task_input_is_refused_and_disables_the_agent(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    agent = await create_agent(client)
    payload = {"type": "generate", "prompt": "name: x' OR '1'='1"}
    resp = await client.post(
        "/api/v1/tasks/run", json={"agent_id": agent["id"], "input": payload}, headers=auth_headers
    )
    assert resp.status == 400
    assert (await resp.json())[
        "detail"
    ] == "Malicious content detected: SQL injection pattern in 'body.input.prompt'"
    assert (await client.get("/api/v1/tasks")).status == 200
    assert await (await client.get("/api/v1/tasks")).json() == []  # nothing queued
    stored = await (await client.get(f"/api/v1/agents/{agent['id']}")).json()
    assert stored["is_active"] is False
    (incident,) = (await incidents(client, auth_headers, "?violation_type=MALICIOUS_CONTENT"))["incidents"]
    assert (incident["severity"], incident["agent_id"]) == ("critical", agent["id"])
    assert "1'='1" not in incident["description"]  # the field is named, the payload is not repeated
    report = await (
        await client.get(f"/api/v1/security/agents/{agent['id']}/report", headers=auth_headers)
    ).json()
    assert report["is_secure"] is False


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/api/v1/agents?search=%3Cscript%3Ealert(1)%3C/script%3E", "query.search"),
        ("/api/v1/logs/history?search=..%2F..%2Fetc%2Fpasswd", "query.search"),
    ],
)
async def test_query_strings_are_checked_too(
    client: TestClient, auth_headers: dict[str, str], path: str, where: str
) -> None:
    resp = await client.get(path, headers=auth_headers)
    assert resp.status == 400
    assert f"in '{where}'" in (await resp.json())["detail"]


async def test_at_the_lenient_level_suspicious_input_is_recorded_but_allowed(
    client: TestClient, auth_headers: dict[str, str], backend: Backend
) -> None:
    await backend.security.set_level("lenient", "test")
    resp = await client.get("/api/v1/agents?search=%3Cscript%3Ealert(1)%3C/script%3E", headers=auth_headers)
    assert resp.status == 200
    (incident,) = (await incidents(client, auth_headers))["incidents"]
    assert (incident["violation_type"], incident["severity"]) == ("MALICIOUS_CONTENT", "low")


async def test_an_over_complex_schema_is_refused_as_a_schema_violation(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    config = {
        "data_models": [{"name": f"m{n}", "fields": [{"name": "a", "type": "str"}]} for n in range(6)],
        "tools": [{"name": "shell", "type": "system_command"}],
    }
    resp = await client.post(
        "/api/v1/agents/create",
        json={"name": "Big", "agent_type": "big", "config": config},
        headers=auth_headers,
    )
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert "6 data models; at most 5" in detail
    assert "tool type 'system_command' is blocked" in detail
    assert await (await client.get("/api/v1/agents")).json() == []
    (incident,) = (await incidents(client, auth_headers, "?violation_type=SCHEMA_VIOLATION"))["incidents"]
    assert (incident["severity"], incident["agent_type"]) == ("high", "big")


async def test_a_burst_over_the_agent_creation_limit_is_429_and_one_incident(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    statuses = []
    for n in range(13):
        resp = await client.post(
            "/api/v1/agents/create",
            json={"name": f"a{n}", "agent_type": "t", "config": {}},
            headers=auth_headers,
        )
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            assert "limited to 10 per hour" in (await resp.json())["detail"]
    assert statuses == [200] * 10 + [429] * 3
    page = await incidents(client, auth_headers, "?violation_type=RATE_LIMIT_EXCEEDED")
    assert page["total_count"] == 1  # one incident per burst, not per refused request
    assert page["incidents"][0]["severity"] == "low"


async def test_tool_checks_refuse_blocked_tools_foreign_domains_and_payloads(
    client: TestClient, auth_headers: dict[str, str], backend: Backend
) -> None:
    agent = await create_agent(
        client,
        name="Tooled",
        agent_type="tooled",
        config={"tools": [{"name": "fetch", "type": "http_request"}]},
    )

    async def check(tool: str, data: dict[str, Any]) -> dict[str, Any]:
        resp = await client.post(
            "/api/v1/security/validate-tool-execution",
            json={"agent_id": agent["id"], "tool_name": tool, "input_data": data},
            headers=auth_headers,
        )
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    ok = await check("llm_processor", {"prompt": "Analyze this email for importance", "max_tokens": 500})
    assert (ok["allowed"], ok["reasons"], ok["tool_name"]) == (True, [], "llm_processor")
    assert ok["validation_time"] > 1.7e9
    blocked = await check("system_command", {"cmd": "ls"})
    assert blocked["allowed"] is False
    assert blocked["reasons"] == ["tool type 'system_command' is blocked at the moderate security level"]
    foreign = await check("fetch", {"url": "https://evil.example.net/x"})
    assert foreign["reasons"] == ["'evil.example.net' is not an allowed domain"]
    assert (await check("fetch", {"url": "https://api.openai.com/v1/models"}))["allowed"] is True
    types = [i["violation_type"] for i in (await incidents(client, auth_headers))["incidents"]]
    assert types == ["PERMISSION_DENIED", "PERMISSION_DENIED"]

    backend.security.policy.rate_limits.tool_execution_per_hour = 2
    results = [(await check("summarizer", {"text": "hello"}))["allowed"] for _ in range(3)]
    assert results == [True, True, False]


async def test_a_resource_alert_becomes_an_incident(backend: Backend) -> None:
    from server.events import IncidentChanged, ResourceAlert

    with backend.bus.subscribe(IncidentChanged) as events:
        backend._on_resource_alert(
            ResourceAlert(
                key="gpu.0.temperature", subject="GPU 0", value=91.0, threshold=85.0, unit="°C", active=True
            )
        )
        event = await asyncio.wait_for(events.get(), 5)
    assert event.incident.violation_type == "RESOURCE_EXCEEDED"
    assert "GPU 0" in event.incident.description
