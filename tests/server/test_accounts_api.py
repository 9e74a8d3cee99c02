"""Accounts as the web client uses them: login-json, me, user management for superusers, 401 vs 403,
the last superuser, disabled and deleted users, and failed logins that are limited and recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, bearer

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

USER_FIELDS = {"id", "username", "email", "is_active", "is_superuser", "created_at", "updated_at"}


async def login_json(client: TestClient, username: str, password: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/v1/auth/login-json", json={"username": username, "password": password})
    return resp.status, dict(await resp.json())


async def add_user(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"username": "viewer", "password": "viewer-password-1", "email": "viewer@example.org", **fields}
    resp = await client.post("/api/v1/auth/users", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def test_login_json_gives_a_token_that_works_everywhere(client: TestClient) -> None:
    status, body = await login_json(client, ADMIN_USER, ADMIN_PASSWORD)
    assert status == 200
    assert body["token_type"] == "bearer"
    assert {"access_token", "user_id", "expires_at"} <= set(body)
    me = await (await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))).json()
    assert (me["username"], me["is_superuser"], me["auth"], me["id"]) == (
        ADMIN_USER,
        True,
        "token",
        body["user_id"],
    )
    health = await client.get("/api/v1/health", headers=bearer(body["access_token"]))
    assert health.status == 200
    async with client.ws_connect(f"/ws/logs?token={body['access_token']}") as ws:
        assert (await ws.receive_json())["type"] == "connected"
        await ws.send_json({"type": "ping"})
        pong = await ws.receive_json()
    assert pong["type"] == "pong"
    assert pong["timestamp"].endswith("Z")


async def test_a_failed_login_is_a_400_with_a_string_detail(client: TestClient) -> None:
    status, body = await login_json(client, ADMIN_USER, "wrong")
    assert (status, body["detail"]) == (400, "Incorrect username or password")
    status, body = await login_json(client, "nobody", "wrong")
    assert (status, body["detail"]) == (400, "Incorrect username or password")


async def test_me_with_the_api_key(client: TestClient, auth_headers: dict[str, str]) -> None:
    me = await (await client.get("/api/v1/auth/me", headers=auth_headers)).json()
    assert (me["auth"], me["is_superuser"], me["id"]) == ("api_key", True, None)
    assert (await client.get("/api/v1/auth/me")).status == 401


async def test_superusers_manage_users(client: TestClient, auth_headers: dict[str, str]) -> None:
    created = await add_user(client, auth_headers)
    assert set(created) == USER_FIELDS
    assert (created["is_superuser"], created["is_active"]) == (False, True)
    listed = await (await client.get("/api/v1/auth/users", headers=auth_headers)).json()
    assert [u["username"] for u in listed] == [ADMIN_USER, "viewer"]
    one = await (await client.get(f"/api/v1/auth/users/{created['id']}", headers=auth_headers)).json()
    assert one == created
    changed = await client.put(
        f"/api/v1/auth/users/{created['id']}", json={"email": "v@example.org"}, headers=auth_headers
    )
    assert (await changed.json())["email"] == "v@example.org"

    taken = await client.post(
        "/api/v1/auth/users",
        json={"username": "viewer", "password": "another-password"},
        headers=auth_headers,
    )
    assert taken.status == 409
    assert "taken" in (await taken.json())["detail"]
    for body, field in (
        ({"username": "x y", "password": "long-enough-1"}, "username"),
        ({"username": "x", "password": "short"}, "password"),
        ({"username": "x", "password": "long-enough-1", "email": "not-an-address"}, "email"),
    ):
        resp = await client.post("/api/v1/auth/users", json=body, headers=auth_headers)
        assert resp.status == 422
        assert (await resp.json())["detail"][0]["loc"] == ["body", field]
    gone = await client.delete(f"/api/v1/auth/users/{created['id']}", headers=auth_headers)
    assert (await gone.json()) == {"message": "User 'viewer' deleted"}
    assert (await client.get(f"/api/v1/auth/users/{created['id']}", headers=auth_headers)).status == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/auth/users"),
        ("POST", "/api/v1/auth/users"),
        ("GET", "/api/v1/auth/users/x"),
        ("PUT", "/api/v1/auth/users/x"),
        ("DELETE", "/api/v1/auth/users/x"),
        ("GET", "/api/v1/security/status"),
    ],
)
async def test_a_plain_user_gets_403_never_401(
    client: TestClient, auth_headers: dict[str, str], method: str, path: str
) -> None:
    await add_user(client, auth_headers)
    _, body = await login_json(client, "viewer", "viewer-password-1")
    resp = await client.request(
        method,
        path,
        json={"username": "z", "password": "long-enough-1"},
        headers=bearer(body["access_token"]),
    )
    assert resp.status == 403
    assert isinstance((await resp.json())["detail"], str)
    unauthenticated = await client.request(method, path, json={})
    assert unauthenticated.status == 401


async def test_plain_users_use_agents_tasks_and_metrics(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    await add_user(client, auth_headers)
    _, body = await login_json(client, "viewer", "viewer-password-1")
    headers = bearer(body["access_token"])
    created = await client.post(
        "/api/v1/agents/create", json={"name": "Mine", "model_name": "llama3.2:latest"}, headers=headers
    )
    assert created.status == 200
    for path in (
        "/api/v1/agents",
        "/api/v1/tasks",
        "/api/v1/metrics",
        "/api/v1/security/limits",
        "/api/v1/auth/me",
    ):
        assert (await client.get(path, headers=headers)).status == 200, path


async def test_disabled_and_deleted_users_are_locked_out_at_once(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    user = await add_user(client, auth_headers)
    _, body = await login_json(client, "viewer", "viewer-password-1")
    token = body["access_token"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 200
    await client.put(f"/api/v1/auth/users/{user['id']}", json={"is_active": False}, headers=auth_headers)
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 401
    status, refused = await login_json(client, "viewer", "viewer-password-1")
    assert (status, refused["detail"]) == (400, "This account is disabled")

    await client.put(f"/api/v1/auth/users/{user['id']}", json={"is_active": True}, headers=auth_headers)
    _, body = await login_json(client, "viewer", "viewer-password-1")
    token = body["access_token"]
    await client.put(
        f"/api/v1/auth/users/{user['id']}", json={"password": "a-new-password"}, headers=auth_headers
    )
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 401  # old sessions end
    _, body = await login_json(client, "viewer", "a-new-password")
    token = body["access_token"]
    await client.delete(f"/api/v1/auth/users/{user['id']}", headers=auth_headers)
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 401


async def test_the_last_active_superuser_stays(client: TestClient, auth_headers: dict[str, str]) -> None:
    admins = await (await client.get("/api/v1/auth/users", headers=auth_headers)).json()
    operator = admins[0]["id"]
    for change in ({"is_active": False}, {"is_superuser": False}):
        resp = await client.put(f"/api/v1/auth/users/{operator}", json=change, headers=auth_headers)
        assert resp.status == 409
        assert "last active superuser" in (await resp.json())["detail"]
    resp = await client.delete(f"/api/v1/auth/users/{operator}", headers=auth_headers)
    assert resp.status == 409

    await add_user(client, auth_headers, username="second", is_superuser=True)
    resp = await client.put(
        f"/api/v1/auth/users/{operator}", json={"is_superuser": False}, headers=auth_headers
    )
    assert resp.status == 200  # another superuser exists now


async def test_failed_logins_are_limited_per_username_and_address_and_recorded(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    statuses = [(await login_json(client, ADMIN_USER, f"wrong-{n}"))[0] for n in range(11)]
    assert statuses == [400] * 10 + [429]
    resp = await client.post(
        "/api/v1/auth/login-json", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    assert resp.status == 429  # even the right password waits out the lock
    assert int(resp.headers["Retry-After"]) >= 1
    assert "Too many failed logins" in (await resp.json())["detail"]
    other = await login_json(client, "someone-else", "x")
    assert other[0] == 400  # another username is not locked
    page = await (await client.get("/api/v1/security/incidents", headers=auth_headers)).json()
    kinds = sorted((i["violation_type"], i["severity"]) for i in page["incidents"])
    assert kinds == [
        ("PERMISSION_DENIED", "low"),
        ("PERMISSION_DENIED", "low"),
        ("RATE_LIMIT_EXCEEDED", "medium"),
    ]
