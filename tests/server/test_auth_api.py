"""Login, API key, logout, password change, and who may call what."""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import update

from server.api.app import create_app
from server.backend import JWT_SECRET_FILE, Backend
from server.db.models import UserRow
from server.services.vault_keys import KEY_FILE
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, bearer, login

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from server.config import Settings

# From the spec's endpoint tables (shared/spec/endpoints.tsv): which routes of this slice need auth.
AUTH_TABLE = [
    ("GET", "/api/v1/health", False),
    ("GET", "/api/v1/ready", False),
    ("GET", "/api/v1/metrics", True),
    ("POST", "/api/v1/auth/logout", True),
    ("POST", "/api/v1/auth/change-password", True),
]


@pytest.mark.parametrize(("method", "path", "needs_auth"), AUTH_TABLE)
async def test_anonymous_access_follows_the_spec_table(
    client: TestClient, method: str, path: str, needs_auth: bool
) -> None:
    resp = await client.request(method, path)
    assert (resp.status == 401) is needs_auth


@pytest.mark.parametrize(("method", "path", "needs_auth"), [row for row in AUTH_TABLE if row[2]])
async def test_api_key_opens_protected_routes(
    client: TestClient, auth_headers: dict[str, str], method: str, path: str, needs_auth: bool
) -> None:
    resp = await client.request(method, path, headers=auth_headers, json={})
    assert resp.status != 401


async def test_missing_credentials_are_401_with_www_authenticate(client: TestClient) -> None:
    resp = await client.get("/api/v1/metrics")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json()
    assert body["status_code"] == 401
    assert "Authorization: Bearer" in body["detail"]


@pytest.mark.parametrize(
    "header", ["Bearer wrong-key", "Basic dXNlcjpwYXNz", "Bearer ", "test-api-key-0123456789"]
)
async def test_bad_credentials_are_401(client: TestClient, header: str) -> None:
    resp = await client.get("/api/v1/metrics", headers={"Authorization": header})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_login_returns_a_bearer_jwt(client: TestClient) -> None:
    resp = await client.post("/api/v1/auth/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["token_type"] == "bearer"
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    assert (await client.get("/api/v1/metrics", headers=bearer(body["access_token"]))).status == 200


@pytest.mark.parametrize(
    ("username", "password"), [(ADMIN_USER, "wrong-password"), ("nobody", ADMIN_PASSWORD)]
)
async def test_failed_login_is_400_with_a_string_detail(
    client: TestClient, username: str, password: str
) -> None:
    resp = await client.post("/api/v1/auth/login", data={"username": username, "password": password})
    assert resp.status == 400
    body = await resp.json()
    assert body == {"detail": "Incorrect username or password", "status_code": 400}


async def test_login_without_password_is_a_400_the_web_client_can_show(client: TestClient) -> None:
    resp = await client.post("/api/v1/auth/login", data={"username": ADMIN_USER})
    assert resp.status == 400
    assert await resp.json() == {"detail": "Enter a username and a password", "status_code": 400}
    resp = await client.post("/api/v1/auth/login-json", json={"username": "", "password": ""})
    assert (await resp.json())["detail"] == "Enter a username and a password"


async def test_an_impossible_login_body_is_422_in_fastapi_shape(client: TestClient) -> None:
    resp = await client.post("/api/v1/auth/login", data={"username": "u" * 151, "password": "x"})
    assert resp.status == 422
    body = await resp.json()
    assert body["status_code"] == 422
    (issue,) = body["detail"]
    assert issue["loc"] == ["body", "username"]
    assert issue["type"] == "string_too_long"
    assert "msg" in issue


async def test_logout_revokes_the_token(client: TestClient) -> None:
    token = await login(client)
    resp = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert resp.status == 200
    again = await client.get("/api/v1/metrics", headers=bearer(token))
    assert again.status == 401
    assert "logged out" in (await again.json())["detail"]


async def test_logout_of_one_session_keeps_the_other(client: TestClient) -> None:
    first, second = await login(client), await login(client)
    await client.post("/api/v1/auth/logout", headers=bearer(first))
    assert (await client.get("/api/v1/metrics", headers=bearer(second))).status == 200


async def test_change_password_revokes_older_tokens_and_new_password_works(client: TestClient) -> None:
    token = await login(client)
    resp = await client.post(
        "/api/v1/auth/change-password",
        headers=bearer(token),
        json={"current_password": ADMIN_PASSWORD, "new_password": "a-new-password-2"},
    )
    assert resp.status == 200
    assert (await client.get("/api/v1/metrics", headers=bearer(token))).status == 401
    old = await client.post("/api/v1/auth/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert old.status == 400
    await login(client, password="a-new-password-2")


async def test_change_password_with_wrong_current_password_is_400(client: TestClient) -> None:
    token = await login(client)
    resp = await client.post(
        "/api/v1/auth/change-password",
        headers=bearer(token),
        json={"current_password": "not-it", "new_password": "a-new-password-2"},
    )
    assert resp.status == 400
    assert (await resp.json())["detail"] == "The current password is not correct"


async def test_short_new_password_is_a_400_and_not_echoed(client: TestClient) -> None:
    token = await login(client)
    resp = await client.post(
        "/api/v1/auth/change-password",
        headers=bearer(token),
        json={"current_password": ADMIN_PASSWORD, "new_password": "short7!"},
    )
    assert resp.status == 400
    text = await resp.text()
    assert "short7!" not in text
    assert ADMIN_PASSWORD not in text
    assert (await resp.json())["detail"] == "The new password must be at least 8 characters long"
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 200  # nothing changed


async def test_api_key_cannot_change_a_password(client: TestClient, auth_headers: dict[str, str]) -> None:
    resp = await client.post(
        "/api/v1/auth/change-password",
        headers=auth_headers,
        json={"current_password": "x", "new_password": "a-new-password-2"},
    )
    assert resp.status == 400
    assert "log in with a username" in (await resp.json())["detail"]


async def test_expired_token_is_401(client: TestClient, settings: Settings) -> None:
    secret = (settings.data_dir / JWT_SECRET_FILE).read_text().strip()
    token = await login(client)
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    resp = await client.get("/api/v1/metrics", headers=bearer(jwt.encode(claims, secret, algorithm="HS256")))
    assert resp.status == 401
    assert "expired" in (await resp.json())["detail"]


async def test_token_signed_with_another_key_is_401(client: TestClient, settings: Settings) -> None:
    secret = (settings.data_dir / JWT_SECRET_FILE).read_text().strip()
    claims = jwt.decode(await login(client), secret, algorithms=["HS256"])
    forged = jwt.encode(claims, "another-secret-of-enough-length-000", algorithm="HS256")
    assert (await client.get("/api/v1/metrics", headers=bearer(forged))).status == 401


async def test_configured_jwt_secret_signs_tokens_and_no_file_is_written(
    settings: Settings, aiohttp_client: Any
) -> None:
    """Boxes sharing one database share AGENTIC_JWT_SECRET: a token from one is good on another."""
    shared = SecretStr("a-jwt-secret-every-box-shares-0123456789")
    one_database = {"jwt_secret": shared, "database_url": settings.resolved_database_url}
    boxes = [
        Backend(settings.model_copy(update={**one_database, "data_dir": settings.data_dir / name}))
        for name in ("box-one", "box-two")
    ]
    started: list[Backend] = []
    try:
        await boxes[0].start()
        started.append(boxes[0])
        # The second box needs the same vault master key too (README: Shared storage).
        boxes[1].settings.data_dir.mkdir(parents=True)
        shutil.copy2(boxes[0].settings.data_dir / KEY_FILE, boxes[1].settings.data_dir / KEY_FILE)
        await boxes[1].start()
        started.append(boxes[1])
        one, two = [await aiohttp_client(create_app(box)) for box in boxes]
        token = await login(one)
        assert jwt.decode(token, shared.get_secret_value(), algorithms=["HS256"])["sub"]
        assert (await two.get("/api/v1/metrics", headers=bearer(token))).status == 200
        assert not (settings.data_dir / "box-one" / JWT_SECRET_FILE).exists()
    finally:
        for box in started:
            await box.stop()


async def test_disabled_account_loses_its_tokens_and_cannot_log_in(
    client: TestClient, backend: Backend
) -> None:
    token = await login(client)
    async with backend.sessions.begin() as session:
        await session.execute(update(UserRow).values(is_active=False))
    assert (await client.get("/api/v1/metrics", headers=bearer(token))).status == 401
    resp = await client.post("/api/v1/auth/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert resp.status == 400
    assert (await resp.json())["detail"] == "This account is disabled"


async def test_configured_admin_password_replaces_the_stored_one_on_start(settings: Settings) -> None:
    first = Backend(settings)
    await first.start()
    await first.stop()
    changed = settings.model_copy(update={"admin_password": SecretStr("changed-in-config-3")})
    second = Backend(changed)
    await second.start()
    try:
        await second.auth.login(ADMIN_USER, "changed-in-config-3")
    finally:
        await second.stop()


async def test_without_configured_password_one_is_generated_into_a_private_file(settings: Settings) -> None:
    backend = Backend(settings.model_copy(update={"admin_password": None}))
    await backend.start()
    try:
        password_file = backend.auth.initial_password_file
        assert password_file.stat().st_mode & 0o777 == 0o600
        password = password_file.read_text().strip()
        issued = await backend.auth.login(ADMIN_USER, password)
        principal = await backend.auth.authenticate(issued.access_token)
        await backend.auth.change_password(principal, password, "my-own-password-4")
        assert not password_file.exists()
    finally:
        await backend.stop()


async def test_without_configured_api_key_one_is_generated_and_kept(settings: Settings) -> None:
    unkeyed = settings.model_copy(update={"api_key": None})
    first = Backend(unkeyed)
    await first.start()
    key = first.api_key
    await first.stop()
    second = Backend(unkeyed)
    await second.start()
    try:
        assert second.api_key == key
        assert len(key) >= 32
        assert (await second.auth.authenticate(key)).kind == "api_key"
    finally:
        await second.stop()
