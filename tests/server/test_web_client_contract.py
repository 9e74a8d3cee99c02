"""Contract tests for the React web client (nepenth/Agentic-Frontend) against this API.

One test, or a small group, per page of the client: each calls what the page calls on load and on
its buttons, through the real app factory, and checks the container shapes and the fields the
client's types and page code read. The client has no error boundary: an object where it maps over a
list, or a missing nested object it dereferences, turns the page white; any 401 logs the user out;
a failed ``/api/v1/health`` logs out too.

The expected shapes are written down below as plain sets and dicts, each with a comment naming the
client file it comes from (paths under ``frontend/src/`` of the client's repository).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from server.api.routes import REGISTRIES
from server.events import ResourceAlert
from server.services.metrics_models import GpuClocks, GpuMemory, GpuMetrics, GpuPower, GpuUtilization
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, API_KEY, bearer, create_agent, login, wait_for_task

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from tests.fakes.ollama import FakeOllama

# -- what the client reads --

# types/index.ts `Agent`; pages/AgentManagement.tsx reads agent.config.temperature/max_tokens/system_prompt
AGENT_FIELDS = {"id", "name", "description", "model_name", "config", "is_active", "created_at", "updated_at"}
AGENT_CONFIG_FIELDS = {"temperature", "max_tokens", "system_prompt"}
# pages/AgentManagement.tsx `CreateAgentForm`: what the create and edit dialogs send, flat
AGENT_FORM = {
    "name": "Mail Sorter",
    "description": "Sorts mail",
    "model_name": "llama3.2:latest",
    "temperature": 0.7,
    "max_tokens": 1000,
    "system_prompt": "You are a helpful AI assistant.",
}
# types/index.ts `Task`; pages/Dashboard.tsx reads status, completed_at, created_at, agent_id
TASK_FIELDS = {"id", "agent_id", "status", "input", "output", "created_at", "completed_at"}
# types/index.ts `Task.status` lists four; Dashboard.tsx shows any other (cancelled) with a neutral icon
TASK_STATUSES = {"pending", "running", "completed", "failed", "cancelled"}
# types/index.ts `LogEntry`; components/LogsViewer.tsx calls level.toLowerCase()/toUpperCase()
LOG_ENTRY_FIELDS = {"level", "message", "timestamp", "task_id", "agent_id"}
LOG_LEVELS = {"debug", "info", "warning", "error"}  # LogsViewer.tsx LOG_LEVELS / LOG_COLORS
# services/api.ts getOllamaModelNames -> types/index.ts `OllamaModelNamesResponse` (models.map)
OLLAMA_NAMES_FIELDS = {"models"}
# types/index.ts `OllamaHealthResponse`; pages/SystemHealth.tsx and Dashboard.tsx read these
OLLAMA_HEALTH_FIELDS = {"status", "models_available", "default_model"}

# pages/SystemHealth.tsx (the version reading the eight endpoints): path -> the nested keys it reads
SYSTEM_HEALTH_READS: dict[str, dict[str, Any]] = {
    "/api/v1/system/metrics/cpu": {
        "usage_percent": None,
        "temperature_celsius": None,
        "count": {"logical": None},
        "frequency_mhz": {"current": None},
    },
    "/api/v1/system/metrics/memory": {"used_gb": None, "total_gb": None, "usage_percent": None},
    "/api/v1/system/metrics/disk": {
        "usage": {"used_gb": None, "total_gb": None, "usage_percent": None},
        "io": {"read_bytes_per_sec": None, "write_bytes_per_sec": None},
    },
    "/api/v1/system/metrics/network": {
        "speeds": {"bytes_recv_per_sec": None, "bytes_sent_per_sec": None},
        "io": {"packets_recv": None},
    },
    "/api/v1/system/metrics/load": {"1m": None, "5m": None, "15m": None},  # each .toFixed(1)
    "/api/v1/system/metrics/swap": {"used_gb": None, "total_gb": None},
    "/api/v1/system/info": {"uptime": {"formatted": None}, "processes": {"total_count": None}},
}
# pages/SystemHealth.tsx and pages/Chat.tsx (GPU monitor) read these of each GPU
GPU_READS = {
    GpuMetrics: {"index", "name", "utilization", "memory", "temperature_fahrenheit", "clocks", "power"},
    GpuUtilization: {"gpu_percent", "memory_percent"},
    GpuMemory: {"used_mb", "total_mb"},
    GpuClocks: {"graphics_mhz", "memory_mhz"},
    GpuPower: {"usage_watts", "limit_watts"},
}

# types/index.ts `SecurityStatus` (also the shape Dashboard.tsx mocks for its security card)
SECURITY_STATUS_FIELDS = {
    "active_agents",
    "total_incidents",
    "recent_incidents",
    "resource_limits",
    "current_usage",
}
SECURITY_RESOURCE_LIMITS = {"max_concurrent_agents", "max_memory_mb", "max_execution_time"}
SECURITY_CURRENT_USAGE = {"active_agents", "total_memory_mb"}
# types/index.ts `SecurityHealth`; pages/Security.tsx reads status and message
SECURITY_HEALTH_FIELDS = {"status", "message", "metrics", "timestamp"}
SECURITY_HEALTH_METRICS = {"total_incidents", "active_agents", "unresolved_high_severity"}
# pages/Security.tsx reads incidents?.total_count and maps incidents?.incidents
INCIDENT_PAGE_FIELDS = {"incidents", "total_count"}
# types/index.ts `SecurityIncident`; Security.tsx calls violation_type.replace(...)
INCIDENT_FIELDS = {
    "incident_id",
    "agent_id",
    "violation_type",
    "severity",
    "description",
    "timestamp",
    "resolved",
    "resolution_notes",
}
# types/index.ts `SecurityLimits`; Security.tsx divides current by max and reads rate_limits.*
SECURITY_LIMITS_READS = {
    "concurrent_agents": {"current", "max"},
    "memory_usage": {"current_mb", "max_mb"},
    "rate_limits": {"tool_execution_per_hour", "agent_creation_per_hour", "external_requests_per_hour"},
}

# The secrets dialog of the Agents page: a list object, and secret_id per item (given a bare list it
# shows "No secrets found" and deletes /secrets/undefined)
SECRET_LIST_FIELDS = {"secrets", "total_count"}
SECRET_FIELDS = {"secret_id", "id", "secret_key", "description", "created_at"}

# types/index.ts `ChatSession`; pages/Chat.tsx reads id, title, updated_at, model_name, status
CHAT_SESSION_FIELDS = {
    "id",
    "session_type",
    "model_name",
    "user_id",
    "title",
    "status",
    "created_at",
    "updated_at",
}
# types/index.ts `ChatMessage`; Chat.tsx calls content.includes(...) and formats timestamp
CHAT_MESSAGE_FIELDS = {"id", "session_id", "role", "content", "timestamp"}
# types/index.ts `ChatMessageResponse`; Chat.tsx and the Agents page's AI wizard read these
CHAT_REPLY_FIELDS = {"message", "session_id", "response", "tokens_used"}
# types/index.ts `ChatModelsResponse` (models.map; models[0])
CHAT_MODELS_FIELDS = {"models", "default_model"}

# Dashboard summary (services/api.ts getDashboardSummary): the snake_case of the `DashboardStats`
# interface in pages/Dashboard.tsx, plus the objects Dashboard.tsx mocks for its system, security
# and Ollama cards (`systemMetrics`, `securityStatus`, `ollamaHealth`)
DASHBOARD_FIELDS = {
    "total_agents",
    "active_agents",
    "tasks",
    "active_tasks",
    "recent_tasks",
    "recent_logs",
    "system_metrics",
    "ollama_health",
    "security_status",
    "system_health",
    "timestamp",
}
DASHBOARD_RECENT_TASK_FIELDS = {"id", "agent_name", "status", "created_at"}
DASHBOARD_SYSTEM_READS = {"cpu": {"usage_percent"}, "memory": {"used_gb", "total_gb", "usage_percent"}}
DASHBOARD_SECURITY_FIELDS = {"active_agents", "total_incidents", "resource_limits"}

# services/websocket.ts: the messages it handles and what it reads of them
WS_TASK_STATUS_FIELDS = {"task_id", "status", "progress", "timestamp"}
WS_TASK_COMPLETE_FIELDS = {"task_id", "status", "output", "error", "completed_at"}
# components/Layout/TopBar.tsx lists notifications by id and shows message and timestamp
WS_NOTIFICATION_FIELDS = {"id", "type", "title", "message", "timestamp"}

ALLOWED_ORIGIN = "http://localhost:3000"  # the `settings` fixture allows the client's dev server
REFUSED_ORIGIN = "http://evil.example"
MODEL = "llama3.2:latest"


# -- helpers --


def has(value: Any, fields: set[str], where: str) -> None:
    """``value`` is an object with (at least) ``fields``."""
    assert isinstance(value, dict), f"{where}: expected an object, got {type(value).__name__}: {value!r}"
    missing = fields - value.keys()
    assert not missing, f"{where}: missing {sorted(missing)} in {sorted(value)}"


def reads(value: Any, shape: dict[str, Any], where: str) -> None:
    """Every nested key of ``shape`` is there (``None`` leaves: any value, the client guards them)."""
    assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
    for key, inner in shape.items():
        assert key in value, f"{where}.{key} missing"
        if isinstance(inner, dict):
            reads(value[key], inner, f"{where}.{key}")
        elif isinstance(inner, set):
            has(value[key], inner, f"{where}.{key}")


def iso(value: Any, where: str) -> datetime:
    """An ISO 8601 UTC timestamp that ``new Date(...)`` parses."""
    assert isinstance(value, str), f"{where}: {value!r}"
    assert value.endswith("Z"), f"{where}: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def ok(resp: aiohttp.ClientResponse, status: int = 200) -> Any:
    assert resp.status == status, f"{resp.method} {resp.url.path}: {resp.status} {await resp.text()}"
    return await resp.json()


async def string_detail(resp: aiohttp.ClientResponse, status: int) -> str:
    """An error the page shows: the status, and a ``detail`` that is text (never a list or object)."""
    assert resp.status == status, f"{resp.method} {resp.url.path}: {resp.status} {await resp.text()}"
    body = await resp.json()
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body["status_code"] == status
    return str(body["detail"])


async def add_plain_user(client: TestClient, name: str = "viewer") -> dict[str, str]:
    """A non-superuser account, logged in; returns its Authorization header."""
    body = {"username": name, "password": "viewer-password-1", "is_superuser": False}
    await ok(await client.post("/api/v1/auth/users", json=body, headers=bearer(API_KEY)), 201)
    return bearer(await login(client, name, "viewer-password-1"))


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of ``kind`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive_json()
            if message["type"] == kind:
                return dict(message)


def chat_routes_registered() -> bool:
    return any(spec.path == "/api/v1/chat/sessions" for registry in REGISTRIES for spec in registry.specs)


needs_chat = pytest.mark.skipif(
    not chat_routes_registered(), reason="/api/v1/chat/... routes are not registered yet"
)


# -- Login (store/slices/authSlice.ts, hooks/useAuth.ts, services/api.ts) --


async def test_login_form_and_json_both_give_an_access_token(client: TestClient) -> None:
    form = await ok(
        await client.post("/api/v1/auth/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    )
    as_json = await ok(
        await client.post(
            "/api/v1/auth/login-json", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        )
    )
    for answer in (form, as_json):
        has(answer, {"access_token", "token_type", "user_id"}, "login")  # authSlice reads user_id too
        assert isinstance(answer["access_token"], str)
        assert answer["access_token"]
        assert answer["token_type"] == "bearer"
    # checkAuthStatus: GET /api/v1/health with the stored token, on every page load
    health = await ok(await client.get("/api/v1/health", headers=bearer(as_json["access_token"])))
    assert health["status"] == "healthy"
    # ... and with a stale or broken token it must still answer 200, or the client logs out
    assert (await client.get("/api/v1/health", headers=bearer("stale.jwt.token"))).status == 200

    # a wrong password: 400 with text the login page shows (a 401 would reload the page silently)
    for path, kwargs in (
        ("/api/v1/auth/login", {"data": {"username": ADMIN_USER, "password": "wrong"}}),
        ("/api/v1/auth/login-json", {"json": {"username": ADMIN_USER, "password": "wrong"}}),
    ):
        await string_detail(await client.post(path, **kwargs), 400)


async def test_change_password_and_logout(client: TestClient) -> None:
    headers = bearer(await login(client))
    body = {"current_password": "not-it", "new_password": "a-new-password-1"}
    detail = await string_detail(
        await client.post("/api/v1/auth/change-password", json=body, headers=headers), 400
    )
    assert "current password" in detail
    body = {"current_password": ADMIN_PASSWORD, "new_password": "a-new-password-1"}
    changed = await ok(await client.post("/api/v1/auth/change-password", json=body, headers=headers))
    assert isinstance(changed["message"], str)
    # the answer says to log in again: the old token is revoked (401, the client's logout)
    assert (await client.get("/api/v1/auth/me", headers=headers)).status == 401
    headers = bearer(await login(client, ADMIN_USER, "a-new-password-1"))
    await ok(await client.post("/api/v1/auth/logout", headers=headers))
    assert (await client.get("/api/v1/auth/me", headers=headers)).status == 401


# -- Dashboard (pages/Dashboard.tsx) --


async def test_dashboard_lists_and_summary(
    client: TestClient, backend: Backend, fake_ollama: FakeOllama
) -> None:
    headers = bearer(await login(client))
    first = await create_agent(client, name="Writer")
    second = await create_agent(client, name="Reader")
    await ok(await client.put(f"/api/v1/agents/{second['id']}", json={"is_active": False}, headers=headers))
    body = {"agent_id": first["id"], "input": {"type": "generate", "prompt": "Say hi"}}
    task = await ok(await client.post("/api/v1/tasks/run", json=body, headers=headers), 202)
    await wait_for_task(client, task["id"])

    agents = await ok(await client.get("/api/v1/agents", headers=headers))
    tasks = await ok(await client.get("/api/v1/tasks", headers=headers))
    assert isinstance(agents, list)
    assert isinstance(tasks, list)
    for agent in agents:
        has(agent, AGENT_FIELDS, "agent")
    for item in tasks:
        has(item, TASK_FIELDS, "task")
        assert item["status"] in TASK_STATUSES
        iso(item["created_at"], "task.created_at")
    assert tasks[0]["id"] == task["id"]
    assert tasks[0]["status"] == "completed"
    iso(tasks[0]["completed_at"], "task.completed_at")  # completedToday compares its date

    summary = await ok(await client.get("/api/v1/dashboard/summary", headers=headers))
    has(summary, DASHBOARD_FIELDS, "summary")
    # real counts, from the agents and tasks services
    assert (summary["total_agents"], summary["active_agents"]) == (2, 1)
    assert summary["tasks"] == {
        "pending": 0,
        "running": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "total": 1,
    }
    assert summary["active_tasks"] == 0
    assert isinstance(summary["recent_tasks"], list)
    assert isinstance(summary["recent_logs"], list)
    recent = summary["recent_tasks"][0]
    has(recent, DASHBOARD_RECENT_TASK_FIELDS, "recent_task")
    assert (recent["id"], recent["agent_name"], recent["status"]) == (task["id"], "Writer", "completed")
    assert summary["recent_logs"], "the task wrote log entries"
    for entry in summary["recent_logs"]:
        has(entry, LOG_ENTRY_FIELDS, "recent_log")
    # the system card: the sampler's figures
    reads(summary["system_metrics"], DASHBOARD_SYSTEM_READS, "system_metrics")
    assert isinstance(summary["system_metrics"]["gpu"], list)
    assert 0 <= summary["system_metrics"]["cpu"]["usage_percent"] <= 100
    latest = await backend.metrics.latest()
    assert summary["system_metrics"]["memory"]["total_gb"] == latest.memory.total_gb
    has(summary["security_status"], DASHBOARD_SECURITY_FIELDS, "security_status")
    has(summary["security_status"]["resource_limits"], {"max_concurrent_agents", "max_memory_mb"}, "limits")
    has(summary["ollama_health"], OLLAMA_HEALTH_FIELDS, "ollama_health")
    assert summary["ollama_health"]["status"] == "healthy"
    assert summary["ollama_health"]["models_available"] == len(fake_ollama.models)
    assert summary["system_health"] in {"healthy", "warning", "error"}
    iso(summary["timestamp"], "summary.timestamp")


async def test_dashboard_summary_says_when_ollama_is_down(
    client: TestClient, fake_ollama: FakeOllama
) -> None:
    headers = bearer(await login(client))
    await fake_ollama.stop()
    await client.get("/api/v1/ollama/health", headers=headers)  # a probe notices at once
    summary = await ok(await client.get("/api/v1/dashboard/summary", headers=headers))
    assert summary["ollama_health"]["status"] == "unhealthy"
    assert summary["ollama_health"]["models_available"] == 0
    assert summary["system_health"] == "error"
    assert (await client.get("/api/v1/dashboard/summary")).status == 401  # no credentials


# -- System Health (pages/SystemHealth.tsx) --


async def test_system_health_page(client: TestClient) -> None:
    headers = bearer(await login(client))
    for path, shape in SYSTEM_HEALTH_READS.items():
        reads(await ok(await client.get(path, headers=headers)), shape, path)
    load = await ok(await client.get("/api/v1/system/metrics/load", headers=headers))
    assert all(isinstance(load[key], int | float) for key in ("1m", "5m", "15m"))  # .toFixed(1)
    disk = await ok(await client.get("/api/v1/system/metrics/disk", headers=headers))
    if disk["io"] is not None:
        assert disk["io"]["read_bytes_per_sec"] == disk["speeds"]["read_bytes_per_sec"]
    gpus = await ok(await client.get("/api/v1/system/metrics/gpu", headers=headers))
    assert isinstance(gpus, list)  # Array.isArray(gpuMetrics) ? gpuMetrics.map(...)
    for gpu in gpus:
        reads(
            gpu,
            {
                "utilization": GPU_READS[GpuUtilization],
                "memory": GPU_READS[GpuMemory],
                "clocks": GPU_READS[GpuClocks],
                "power": GPU_READS[GpuPower],
            },
            "gpu",
        )
    # without a GPU here, the model the answer is made from must still declare every field read
    for model, fields in GPU_READS.items():
        assert fields <= set(model.model_fields), model.__name__
    ollama = await ok(await client.get("/api/v1/ollama/health", headers=headers))
    has(ollama, OLLAMA_HEALTH_FIELDS, "ollama health")
    assert ollama["status"] == "healthy"
    # the older page version reads the Prometheus text with the login token
    metrics = await client.get("/api/v1/metrics", headers=headers)
    assert metrics.status == 200
    assert "api_requests_total" in await metrics.text()


# -- Security (pages/Security.tsx) --


async def test_security_page(client: TestClient) -> None:
    headers = bearer(await login(client))
    agent = await create_agent(client)
    # a low incident (a failed login) and a high one (a blocked tool)
    await client.post("/api/v1/auth/login-json", json={"username": ADMIN_USER, "password": "oops"})
    check = {"agent_id": agent["id"], "tool_name": "system_command", "input_data": {"cmd": "ls"}}
    await ok(await client.post("/api/v1/security/validate-tool-execution", json=check, headers=headers))

    status = await ok(await client.get("/api/v1/security/status", headers=headers))
    has(status, SECURITY_STATUS_FIELDS, "status")
    has(status["resource_limits"], SECURITY_RESOURCE_LIMITS, "status.resource_limits")
    has(status["current_usage"], SECURITY_CURRENT_USAGE, "status.current_usage")
    assert isinstance(status["recent_incidents"], list)
    health = await ok(await client.get("/api/v1/security/health", headers=headers))
    has(health, SECURITY_HEALTH_FIELDS, "health")
    has(health["metrics"], SECURITY_HEALTH_METRICS, "health.metrics")
    assert health["status"] == "warning"
    assert isinstance(health["message"], str)
    limits = await ok(await client.get("/api/v1/security/limits", headers=headers))
    reads(limits, SECURITY_LIMITS_READS, "limits")
    assert limits["memory_usage"]["max_mb"] > 0
    assert limits["concurrent_agents"]["max"] > 0

    # the incident table, with the filters as axios sends them (booleans as "true"/"false")
    page = await ok(await client.get("/api/v1/security/incidents?limit=50", headers=headers))
    has(page, INCIDENT_PAGE_FIELDS, "incidents")
    assert isinstance(page["incidents"], list)
    assert page["total_count"] == len(page["incidents"])
    kinds = {(i["violation_type"], i["severity"]) for i in page["incidents"]}
    assert {("PERMISSION_DENIED", "low"), ("PERMISSION_DENIED", "high")} <= kinds
    for incident in page["incidents"]:
        has(incident, INCIDENT_FIELDS, "incident")
        assert isinstance(incident["violation_type"], str)
        assert isinstance(incident["description"], str)
        assert incident["severity"] in {"low", "medium", "high", "critical"}
        iso(incident["timestamp"], "incident.timestamp")
    query = "limit=50&severity=high&resolved=false"
    high = await ok(await client.get(f"/api/v1/security/incidents?{query}", headers=headers))
    assert [i["violation_type"] for i in high["incidents"]] == ["PERMISSION_DENIED"]

    # "Resolve Incident": POST with resolution_notes, keyed by incident_id
    incident_id = high["incidents"][0]["incident_id"]
    path = f"/api/v1/security/incidents/{incident_id}/resolve"
    resolved = await ok(await client.post(path, json={"resolution_notes": "Expected"}, headers=headers))
    assert resolved["resolved"] is True
    assert resolved["resolution_notes"] == "Expected"
    await string_detail(await client.post(path, json={"resolution_notes": "again"}, headers=headers), 409)
    unknown = "/api/v1/security/incidents/sec_0_000000/resolve"
    await string_detail(await client.post(unknown, json={"resolution_notes": "x"}, headers=headers), 404)


async def test_security_page_for_a_plain_user_is_a_403_never_a_401(client: TestClient) -> None:
    headers = await add_plain_user(client)
    # the page shows "Failed to load security data" for the status; a 401 would log the user out
    await string_detail(await client.get("/api/v1/security/status", headers=headers), 403)
    for path in ("/api/v1/security/health", "/api/v1/security/incidents", "/api/v1/security/limits"):
        await ok(await client.get(path, headers=headers))


# -- Agents (pages/AgentManagement.tsx, with its secrets dialog and AI wizard) --


async def test_agents_page_create_edit_toggle_delete(client: TestClient) -> None:
    headers = bearer(await login(client))
    names = await ok(await client.get("/api/v1/ollama/models/names", headers=headers))
    has(names, OLLAMA_NAMES_FIELDS, "model names")
    assert MODEL in names["models"]
    assert all(isinstance(name, str) for name in names["models"])

    created = await ok(await client.post("/api/v1/agents/create", json=AGENT_FORM, headers=headers))
    has(created, AGENT_FIELDS, "created agent")
    assert created["config"] == {
        "temperature": 0.7,
        "max_tokens": 1000,
        "system_prompt": AGENT_FORM["system_prompt"],
    }
    agents = await ok(await client.get("/api/v1/agents", headers=headers))
    assert [a["id"] for a in agents] == [created["id"]]
    has(agents[0]["config"], AGENT_CONFIG_FIELDS, "agent.config")  # handleEditAgent reads these
    iso(agents[0]["created_at"], "agent.created_at")

    # "Update Agent": the whole form again, flat
    edit = {**AGENT_FORM, "description": "Sorts and files mail", "temperature": 0.2, "max_tokens": 2048}
    updated = await ok(await client.put(f"/api/v1/agents/{created['id']}", json=edit, headers=headers))
    assert updated["description"] == "Sorts and files mail"
    assert (updated["config"]["temperature"], updated["config"]["max_tokens"]) == (0.2, 2048)
    # the switch in the Status column
    toggled = await ok(
        await client.put(f"/api/v1/agents/{created['id']}", json={"is_active": False}, headers=headers)
    )
    assert toggled["is_active"] is False
    has(toggled["config"], AGENT_CONFIG_FIELDS, "toggled agent.config")
    listed = await ok(await client.get("/api/v1/agents", headers=headers))
    assert listed[0]["is_active"] is False

    await string_detail(await client.post("/api/v1/agents/create", json=AGENT_FORM, headers=headers), 409)
    await ok(await client.delete(f"/api/v1/agents/{created['id']}", headers=headers))
    await string_detail(await client.get(f"/api/v1/agents/{created['id']}", headers=headers), 404)
    assert await ok(await client.get("/api/v1/agents", headers=headers)) == []


async def test_agents_page_secrets_dialog(client: TestClient) -> None:
    headers = bearer(await login(client))
    agent = await create_agent(client)
    base = f"/api/v1/agents/{agent['id']}/secrets"
    empty = await ok(await client.get(base, headers=headers))
    assert empty == {"secrets": [], "total_count": 0}

    body = {"secret_key": "gmail_api_key", "secret_value": "s3cr3t-value", "description": "Gmail"}
    created = await ok(await client.post(base, json=body, headers=headers), 201)
    has(created, SECRET_FIELDS, "created secret")
    listing = await ok(await client.get(base, headers=headers))
    has(listing, SECRET_LIST_FIELDS, "secret list")
    assert listing["total_count"] == 1
    assert isinstance(listing["secrets"], list)
    item = listing["secrets"][0]
    has(item, SECRET_FIELDS, "secret")
    assert item["secret_id"] == item["id"] == created["id"]
    assert "s3cr3t-value" not in str(listing)  # the list never carries values
    await string_detail(await client.post(base, json=body, headers=headers), 409)

    await ok(await client.delete(f"{base}/{item['secret_id']}", headers=headers))
    assert await ok(await client.get(base, headers=headers)) == {"secrets": [], "total_count": 0}
    await string_detail(await client.delete(f"{base}/undefined", headers=headers), 404)


@needs_chat
async def test_agents_page_ai_wizard(client: TestClient, fake_ollama: FakeOllama) -> None:
    headers = bearer(await login(client))
    body = {
        "session_type": "agent_creation",
        "model_name": MODEL,
        "title": "Agent Creation: An agent that sorts my email...",
        "user_id": "current-user",  # what authSlice keeps as the user's id after a page reload
        "config": {"description": "An agent that sorts my email"},
    }
    session = await ok(await client.post("/api/v1/chat/sessions", json=body, headers=headers))
    has(session, CHAT_SESSION_FIELDS, "wizard session")
    fake_ollama.replies.append("Which mailbox should it read?")
    path = f"/api/v1/chat/sessions/{session['id']}/messages"
    reply = await ok(await client.post(path, json={"message": "Gmail, please"}, headers=headers))
    has(reply, CHAT_REPLY_FIELDS, "wizard reply")
    assert reply["response"] == "Which mailbox should it read?"
    assert reply["session_id"] == session["id"]
    has(reply["message"], CHAT_MESSAGE_FIELDS, "wizard reply.message")
    iso(reply["message"]["timestamp"], "reply.message.timestamp")


# -- Chat (pages/Chat.tsx) --


@needs_chat
async def test_chat_page(client: TestClient) -> None:
    headers = bearer(await login(client))
    assert await ok(await client.get("/api/v1/chat/sessions", headers=headers)) == []
    models = await ok(await client.get("/api/v1/chat/models", headers=headers))
    has(models, CHAT_MODELS_FIELDS, "chat models")
    assert isinstance(models["models"], list)
    assert MODEL in models["models"]
    assert isinstance(await ok(await client.get("/api/v1/system/metrics/gpu", headers=headers)), list)

    body = {
        "session_type": "general",
        "model_name": models["models"][0],
        "title": "Code help",
        "user_id": "u-1",
    }
    session = await ok(await client.post("/api/v1/chat/sessions", json=body, headers=headers))
    has(session, CHAT_SESSION_FIELDS, "session")
    assert session["status"] == "active"
    sessions = await ok(await client.get("/api/v1/chat/sessions", headers=headers))
    assert isinstance(sessions, list)
    assert sessions[0]["id"] == session["id"]
    iso(sessions[0]["updated_at"], "session.updated_at")
    assert (
        await ok(await client.get(f"/api/v1/chat/sessions/{session['id']}/messages", headers=headers)) == []
    )

    path = f"/api/v1/chat/sessions/{session['id']}/messages"
    reply = await ok(await client.post(path, json={"message": "Hello", "model_name": MODEL}, headers=headers))
    has(reply, CHAT_REPLY_FIELDS, "reply")
    assert isinstance(reply["response"], str)
    assert reply["response"]
    assert reply["session_id"] == session["id"]
    messages = await ok(await client.get(path, headers=headers))
    assert isinstance(messages, list)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    for message in messages:
        has(message, CHAT_MESSAGE_FIELDS, "message")
        assert isinstance(message["content"], str)
        iso(message["timestamp"], "message.timestamp")

    # "Archive" and "Delete" on a session
    status_path = f"/api/v1/chat/sessions/{session['id']}/status"
    archived = await ok(await client.put(status_path, json={"status": "archived"}, headers=headers))
    assert archived["status"] == "archived"
    await ok(await client.delete(f"/api/v1/chat/sessions/{session['id']}", headers=headers))
    await string_detail(await client.get(f"/api/v1/chat/sessions/{session['id']}", headers=headers), 404)


# -- Live Logs (components/LogsViewer.tsx over services/websocket.ts) --


async def test_live_logs_socket_with_a_login_token(client: TestClient, backend: Backend) -> None:
    token = await login(client)
    agent = await create_agent(client)
    # the page's agent and task pickers
    assert isinstance(await ok(await client.get("/api/v1/agents", headers=bearer(token))), list)
    assert isinstance(await ok(await client.get("/api/v1/tasks", headers=bearer(token))), list)

    async with client.ws_connect(f"/ws/logs?token={token}") as ws:
        await ws.send_json({"type": "ping"})  # every 30 s; no pong within 90 s drops the socket
        pong = await receive(ws, "pong")
        iso(pong["timestamp"], "pong.timestamp")
        backend.logs.record("warning", "GPU at 85 C", source="system")
        entry = (await receive(ws, "log_entry"))["data"]
        has(entry, LOG_ENTRY_FIELDS, "log_entry.data")
        assert entry["level"] in LOG_LEVELS
        assert entry["message"] == "GPU at 85 C"
        iso(entry["timestamp"], "log_entry.timestamp")

    # a channel with filters: websocket.ts glues "?token=" to the filters with a second "?"
    async with client.ws_connect(f"/ws/logs?agent_id={agent['id']}&level=info?token={token}") as ws:
        await receive(ws, "connected")
        backend.logs.record("info", "another agent", source="t", agent_id="someone-else")
        backend.logs.record("info", "this agent", source="t", agent_id=str(agent["id"]))
        entry = (await receive(ws, "log_entry"))["data"]
        assert (entry["message"], entry["agent_id"]) == ("this agent", agent["id"])


async def test_live_logs_rate_limit_error_carries_retry_after(client: TestClient) -> None:
    token = await login(client)
    async with client.ws_connect(f"/ws/logs?token={token}") as ws:
        await receive(ws, "connected")
        for _ in range(101):
            await ws.send_json({"type": "ping"})
        error = await receive(ws, "error")
    # websocket.ts: `message.type === 'error' && message.retry_after` -> rate limited
    assert isinstance(error["message"], str)
    assert error["retry_after"] >= 1


async def test_task_socket_messages(client: TestClient) -> None:
    token = await login(client)
    agent = await create_agent(client)
    body = {"agent_id": agent["id"], "input": {"type": "generate", "prompt": "Hi"}}
    task = await ok(await client.post("/api/v1/tasks/run", json=body, headers=bearer(token)), 202)
    async with client.ws_connect(f"/ws/tasks/{task['id']}?token={token}") as ws:
        status = (await receive(ws, "task_status"))["data"]
        has(status, WS_TASK_STATUS_FIELDS, "task_status.data")
        assert status["task_id"] == task["id"]
        complete = (await receive(ws, "task_complete", timeout=10))["data"]
        has(complete, WS_TASK_COMPLETE_FIELDS, "task_complete.data")
        assert complete["status"] == "completed"


def disk_alert(key: str, *, active: bool = True) -> ResourceAlert:
    return ResourceAlert(key=key, subject=f"Disk {key}", value=97.0, threshold=95.0, unit="%", active=active)


async def next_notification(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next notification this test caused (alerts the real sampler may raise meanwhile are
    skipped: they carry keys without the ``test.`` prefix)."""
    while True:
        data = (await receive(ws, "notification"))["data"]
        if data["category"] != "resource_alert" or data["resource"].startswith("test."):
            return dict(data)


async def test_notifications_for_serious_incidents_and_resource_alerts(
    client: TestClient, backend: Backend
) -> None:
    token = await login(client)
    agent = await create_agent(client)
    # The hub forwards bus events in order, so a notification that should not exist would come
    # before the next one that should.
    async with client.ws_connect(f"/ws/logs?level=error&token={token}") as ws:
        await receive(ws, "connected")
        # a low incident (a failed login) is no notification; a high one (a blocked tool) is
        await client.post("/api/v1/auth/login-json", json={"username": ADMIN_USER, "password": "oops"})
        check = {"agent_id": agent["id"], "tool_name": "system_command", "input_data": {}}
        await ok(
            await client.post("/api/v1/security/validate-tool-execution", json=check, headers=bearer(token))
        )
        first = await next_notification(ws)
        has(first, WS_NOTIFICATION_FIELDS, "notification.data")
        assert (first["category"], first["severity"], first["type"]) == ("security_incident", "high", "error")
        assert "system_command" in first["message"]
        iso(first["timestamp"], "notification.timestamp")
        incidents = await ok(await client.get("/api/v1/security/incidents", headers=bearer(token)))
        assert first["id"] == first["incident_id"] == incidents["incidents"][0]["incident_id"]

        # resource alerts: one as it is raised, none as it clears (the log has that)
        backend.bus.publish(disk_alert("test.cleared", active=False))
        backend.bus.publish(disk_alert("test.raised"))
        alert = await next_notification(ws)
        has(alert, WS_NOTIFICATION_FIELDS, "notification.data")
        assert (alert["category"], alert["type"], alert["resource"]) == (
            "resource_alert",
            "warning",
            "test.raised",
        )
        assert alert["message"] == "Disk test.raised at 97% (alert threshold 95%)"
        iso(alert["timestamp"], "notification.timestamp")

        # resolving an incident is no new notification
        path = f"/api/v1/security/incidents/{first['incident_id']}/resolve"
        await ok(await client.post(path, json={"resolution_notes": "ok"}, headers=bearer(token)))
        backend.bus.publish(disk_alert("test.sentinel"))
        assert (await next_notification(ws))["resource"] == "test.sentinel"


# -- errors the pages show, and who gets a 401 --


async def test_a_valid_login_never_gets_a_401_on_what_the_pages_load(client: TestClient) -> None:
    agent = await create_agent(client)
    loads = [
        "/api/v1/health",
        "/api/v1/agents",
        "/api/v1/tasks",
        "/api/v1/dashboard/summary",
        "/api/v1/ollama/health",
        "/api/v1/ollama/models/names",
        "/api/v1/metrics",
        *SYSTEM_HEALTH_READS,
        "/api/v1/system/metrics/gpu",
        "/api/v1/security/health",
        "/api/v1/security/incidents",
        "/api/v1/security/limits",
        f"/api/v1/agents/{agent['id']}/secrets",
        "/api/v1/auth/me",
    ]
    if chat_routes_registered():
        loads += ["/api/v1/chat/sessions", "/api/v1/chat/models"]
    for headers in (bearer(await login(client)), await add_plain_user(client)):
        for path in loads:
            resp = await client.get(path, headers=headers)
            assert resp.status == 200, f"{path}: {resp.status} {await resp.text()}"


async def test_a_401_only_for_missing_or_invalid_credentials(client: TestClient) -> None:
    agent = await create_agent(client)
    body = {"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}}
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic abc"}):
        detail = await string_detail(await client.post("/api/v1/tasks/run", json=body, headers=headers), 401)
        assert detail
        assert (await client.get("/api/v1/dashboard/summary", headers=headers)).status == 401
        assert (await client.get("/api/v1/health", headers=headers)).status == 200


async def test_every_detail_the_pages_may_show_is_a_string(client: TestClient) -> None:
    headers = bearer(await login(client))
    agent = await create_agent(client)
    await string_detail(await client.get("/api/v1/agents/nope", headers=headers), 404)
    await string_detail(
        await client.put("/api/v1/agents/nope", json={"is_active": False}, headers=headers), 404
    )
    await string_detail(await client.delete("/api/v1/agents/nope", headers=headers), 404)
    await string_detail(await client.get("/api/v1/tasks/nope/status", headers=headers), 404)
    await string_detail(await client.delete("/api/v1/tasks/nope", headers=headers), 404)
    await string_detail(await client.get("/api/v1/logs/nope", headers=headers), 404)
    await string_detail(await client.get("/api/v1/agents/nope/secrets", headers=headers), 404)
    body = {"agent_id": "nope", "input": {"type": "generate", "prompt": "x"}}
    await string_detail(await client.post("/api/v1/tasks/run", json=body, headers=headers), 404)
    duplicate = {"name": agent["name"], "model_name": MODEL}
    await string_detail(await client.post("/api/v1/agents/create", json=duplicate, headers=headers), 409)
    body = {"agent_id": agent["id"], "input": {"type": "generate", "prompt": "x"}}
    task = await ok(await client.post("/api/v1/tasks/run", json=body, headers=headers), 202)
    await wait_for_task(client, task["id"])
    await string_detail(await client.delete(f"/api/v1/tasks/{task['id']}", headers=headers), 409)
    await string_detail(await client.get("/api/v1/no/such/endpoint", headers=headers), 404)
    if chat_routes_registered():
        await string_detail(await client.get("/api/v1/chat/sessions/nope", headers=headers), 404)


# -- CORS: the deployed client calls cross-origin, so every call is preflighted --


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/agents"),
        ("POST", "/api/v1/agents/create"),
        ("PUT", "/api/v1/agents/some-id"),
        ("DELETE", "/api/v1/agents/some-id"),
        ("POST", "/api/v1/auth/login-json"),
        ("GET", "/api/v1/health"),
    ],
)
async def test_preflight_from_the_client_origin(client: TestClient, method: str, path: str) -> None:
    resp = await client.options(
        path,
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status in (200, 204)
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    allowed_methods = {m.strip() for m in resp.headers["Access-Control-Allow-Methods"].split(",")}
    assert method in allowed_methods
    allowed_headers = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers


async def test_cross_origin_answers_carry_cors_headers_on_success_and_errors(client: TestClient) -> None:
    origin = {"Origin": ALLOWED_ORIGIN}
    headers = {**origin, **bearer(await login(client))}
    answers = {
        200: await client.get("/api/v1/agents", headers=headers),
        401: await client.get("/api/v1/dashboard/summary", headers=origin),
        404: await client.get("/api/v1/agents/nope", headers=headers),
        422: await client.post("/api/v1/agents/create", json={"name": ""}, headers=headers),
    }
    for _ in range(10):  # lock one username out from this address
        await client.post(
            "/api/v1/auth/login-json", json={"username": "nobody", "password": "x"}, headers=origin
        )
    answers[429] = await client.post(
        "/api/v1/auth/login-json", json={"username": "nobody", "password": "x"}, headers=origin
    )
    for status, resp in answers.items():
        assert resp.status == status, (status, resp.status, await resp.text())
        assert resp.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, status
        assert resp.headers.get("Access-Control-Allow-Credentials") == "true", status
    # the client can read Retry-After on a 429 only when it is exposed
    exposed = {h.strip().lower() for h in answers[429].headers["Access-Control-Expose-Headers"].split(",")}
    assert "retry-after" in exposed
    assert int(answers[429].headers["Retry-After"]) >= 1


async def test_a_refused_origin_gets_no_cors_headers(client: TestClient) -> None:
    refused = {"Origin": REFUSED_ORIGIN}
    preflight = await client.options(
        "/api/v1/agents",
        headers={
            **refused,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status == 403
    for resp in (
        preflight,
        await client.get("/api/v1/health", headers=refused),
        await client.get("/api/v1/agents/nope", headers=refused),
        await client.get("/api/v1/dashboard/summary", headers=refused),
    ):
        assert not any(name.lower().startswith("access-control-") for name in resp.headers), resp.headers
