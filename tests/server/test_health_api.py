"""Health, readiness and Prometheus metrics through the real app factory."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from server import __version__

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

    from tests.fakes.ollama import FakeOllama


async def test_health_has_exactly_the_spec_fields(client: TestClient) -> None:
    resp = await client.get("/api/v1/health")
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"status", "app_name", "version", "timestamp"}
    assert body["status"] == "healthy"
    assert body["version"] == __version__
    assert body["timestamp"].endswith("Z")
    assert datetime.fromisoformat(body["timestamp"]).utcoffset() is not None


async def test_health_answers_200_with_a_bad_token(client: TestClient) -> None:
    resp = await client.get("/api/v1/health", headers={"Authorization": "Bearer not-a-real-token"})
    assert resp.status == 200


async def test_ready_when_database_and_ollama_answer(client: TestClient) -> None:
    resp = await client.get("/api/v1/ready")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["ollama"]["ok"] is True


async def test_not_ready_names_ollama_when_it_is_down(client: TestClient, fake_ollama: FakeOllama) -> None:
    await fake_ollama.stop()
    resp = await client.get("/api/v1/ready")
    assert resp.status == 503
    body = await resp.json()
    assert body["status_code"] == 503
    assert body["checks"]["ollama"]["ok"] is False
    assert "Ollama is not reachable" in body["detail"]
    assert fake_ollama.url in body["detail"]


async def test_metrics_need_credentials(client: TestClient) -> None:
    resp = await client.get("/api/v1/metrics")
    assert resp.status == 401


async def test_metrics_count_requests_by_method_endpoint_and_status(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    await client.get("/api/v1/health")
    await client.get("/api/v1/health")
    await client.get("/api/v1/metrics")
    resp = await client.get("/api/v1/metrics", headers=auth_headers)
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert 'api_requests_total{endpoint="/health",method="GET",status_code="200"} 2.0' in text
    assert 'api_requests_total{endpoint="/metrics",method="GET",status_code="401"} 1.0' in text
    assert "ollama_up 1.0" in text
    assert "process_resident_memory_bytes" in text


async def test_unknown_paths_share_one_metrics_label(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    for n in range(3):
        await client.get(f"/no/such/path/{n}")
    text = await (await client.get("/api/v1/metrics", headers=auth_headers)).text()
    assert 'api_requests_total{endpoint="unmatched",method="GET",status_code="404"} 3.0' in text
    assert "/no/such/path" not in text
