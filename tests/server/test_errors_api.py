"""Error shapes, body limits, request ids and CORS."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from tests.conftest import bearer, login

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

ALLOWED = "http://localhost:3000"
REFUSED = "http://evil.example:8080"


async def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    resp = await client.get("/api/v1/nope")
    assert resp.status == 404
    assert await resp.json() == {"detail": "Not Found", "status_code": 404}


async def test_wrong_method_is_a_json_405_with_allow(client: TestClient) -> None:
    resp = await client.delete("/api/v1/health")
    assert resp.status == 405
    assert (await resp.json())["status_code"] == 405
    assert "GET" in resp.headers["Allow"]


async def test_body_over_one_megabyte_is_413(client: TestClient, auth_headers: dict[str, str]) -> None:
    body = b'{"current_password": "' + b"x" * (1024 * 1024) + b'"}'
    resp = await client.post(
        "/api/v1/auth/change-password",
        data=io.BytesIO(body),
        headers={**auth_headers, "Content-Type": "application/json"},
    )
    assert resp.status == 413
    body_json = await resp.json()
    assert body_json["status_code"] == 413
    assert "1 MB" in body_json["detail"]


async def test_chunked_body_over_one_megabyte_is_413(client: TestClient) -> None:
    token = await login(client)

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    resp = await client.post(
        "/api/v1/auth/change-password",
        data=chunks(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert (await resp.json())["status_code"] == 413


@pytest.mark.parametrize("payload", [b"{not json", b"", b"[]", b'{"current_password": 5}'])
async def test_malformed_json_is_422_never_500(client: TestClient, payload: bytes) -> None:
    token = await login(client)
    resp = await client.post(
        "/api/v1/auth/change-password",
        data=payload,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert resp.status == 422
    body = await resp.json()
    assert body["status_code"] == 422
    assert all(issue["loc"][0] == "body" for issue in body["detail"])


async def test_every_response_carries_a_request_id(client: TestClient) -> None:
    first = await client.get("/api/v1/health")
    second = await client.get("/api/v1/nope")
    assert first.headers["X-Request-ID"]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_a_sane_client_request_id_is_kept_and_a_wild_one_replaced(client: TestClient) -> None:
    kept = await client.get("/api/v1/health", headers={"X-Request-ID": "trace-42.a_b"})
    assert kept.headers["X-Request-ID"] == "trace-42.a_b"
    replaced = await client.get("/api/v1/health", headers={"X-Request-ID": "bad id\u00e9" * 3})
    assert replaced.headers["X-Request-ID"] != "bad id\u00e9" * 3


async def test_preflight_from_an_allowed_origin(client: TestClient) -> None:
    resp = await client.options(
        "/api/v1/metrics",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    assert "DELETE" in resp.headers["Access-Control-Allow-Methods"]
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"


async def test_preflight_from_a_refused_origin_gets_no_cors_headers(client: TestClient) -> None:
    resp = await client.options(
        "/api/v1/metrics", headers={"Origin": REFUSED, "Access-Control-Request-Method": "GET"}
    )
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "--cors-origin" in (await resp.json())["detail"]


async def test_error_answers_carry_cors_headers_for_allowed_origins(client: TestClient) -> None:
    resp = await client.get("/api/v1/metrics", headers={"Origin": ALLOWED})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_actual_request_from_refused_origin_has_no_cors_headers(client: TestClient) -> None:
    resp = await client.get("/api/v1/health", headers={"Origin": REFUSED})
    assert resp.status == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
