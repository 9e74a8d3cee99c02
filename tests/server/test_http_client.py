"""The outbound HTTP client through the API (``/api/v1/http/*``) against a flaky site on loopback:
retries, Retry-After and rate-limit headers, the circuit breaker, the destination policy (deny list,
link-local, the app's own API), secrets by reference that never come back, stream downloads."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import sys
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from server.api.site import ApiServer
from server.events import DownloadProgressed
from server.services.http_client import DestinationDenied, DestinationPolicy, retry_after_seconds
from tests.conftest import API_KEY, bearer, create_agent
from tests.fakes.flaky_http import FlakyHttp

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aiohttp.test_utils import TestClient

    from server.backend import Backend
    from server.config import Settings

AUTH = bearer(API_KEY)
SECRET_VALUE = "s3cr3t-token-value-42"

# Every socket.connect in this process while ``WATCHING`` is set, so a test can show that no
# connection was even attempted (an audit hook cannot be removed; it records only when asked).
CONNECTS: list[Any] = []
WATCHING: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if WATCHING and event == "socket.connect":
        CONNECTS.append(args[1])


sys.addaudithook(_audit)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Fast backoff, a small breaker, 127.0.0.2 denied, a small download limit."""
    return settings.model_copy(
        update={
            "http_deny": ["127.0.0.2"],
            "http_backoff_initial": 0.01,
            "http_backoff_max": 0.05,
            "http_breaker_threshold": 3,
            "http_breaker_reset": 0.3,
            "http_max_retry_wait": 5.0,
            "http_rate_limit_per_minute": 60_000.0,
            "http_download_max_bytes": 4 * 1024 * 1024,
        }
    )


@pytest.fixture
async def site() -> AsyncIterator[FlakyHttp]:
    fake = FlakyHttp()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def denied_site() -> AsyncIterator[FlakyHttp]:
    """The same site on 127.0.0.2, which the settings deny: it must never be reached."""
    fake = FlakyHttp(host="127.0.0.2")
    await fake.start()
    yield fake
    await fake.stop()


async def outbound(client: TestClient, status: int = 200, **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/http/request", json=body, headers=AUTH)
    text = await resp.text()
    assert resp.status == status, text
    return dict(await resp.json())


async def test_flaky_get_is_retried_until_it_succeeds(client: TestClient, site: FlakyHttp) -> None:
    site.fail_times = 2
    result = await outbound(client, method="GET", url=f"{site.url}/flaky")
    assert result["status_code"] == 200
    assert result["json_body"] == {"ok": True, "attempt": 3}
    assert (result["attempts"], result["retry_count"]) == (3, 2)
    assert len(site.hits("/flaky")) == 3

    resp = await client.get(f"/api/v1/http/requests/{result['request_id']}", headers=AUTH)
    record = await resp.json()
    assert resp.status == 200, record
    assert record["method"] == "GET"
    assert record["url"] == f"{site.url}/flaky"
    assert (record["status_code"], record["attempts"], record["error"]) == (200, 3, None)
    assert record["duration_ms"] > 0
    assert record["created_at"].endswith("Z")


async def test_retry_after_is_honoured(client: TestClient, site: FlakyHttp) -> None:
    site.fail_times, site.fail_status, site.retry_after = 1, 429, "1"
    result = await outbound(client, url=f"{site.url}/flaky")
    assert (result["status_code"], result["attempts"], result["rate_limited"]) == (200, 2, True)
    first, second = site.hits("/flaky")
    assert second.at - first.at >= 0.95  # the site asked for one second; the backoff alone is 10 ms


async def test_a_retry_after_beyond_the_maximum_wait_returns_the_answer(
    client: TestClient, site: FlakyHttp
) -> None:
    site.fail_times, site.fail_status, site.retry_after = 5, 503, "3600"
    result = await outbound(client, url=f"{site.url}/flaky")
    assert (result["status_code"], result["attempts"]) == (503, 1)
    assert result["headers"]["retry-after"] == "3600"


async def test_rate_limit_headers_pause_the_host_until_the_reset(client: TestClient, site: FlakyHttp) -> None:
    site.remaining, site.reset_after = 2, 1
    first = await outbound(client, url=f"{site.url}/limited")
    assert first["rate_limit_info"]["remaining"] == 1
    await outbound(client, url=f"{site.url}/limited")  # remaining 0, reset in 1 s
    third = await outbound(client, url=f"{site.url}/limited")
    assert third["rate_limited"] is True
    hits = site.hits("/limited")
    assert hits[2].at - hits[1].at >= 0.95


async def test_a_post_is_not_retried(client: TestClient, site: FlakyHttp) -> None:
    site.fail_times = 2
    result = await outbound(client, method="POST", url=f"{site.url}/flaky", json_data={"n": 1})
    assert (result["status_code"], result["attempts"]) == (503, 1)
    assert len(site.hits("/flaky")) == 1


async def test_breaker_opens_refuses_fast_and_recovers(client: TestClient, site: FlakyHttp) -> None:
    site.fail_times = 1000
    result = await outbound(client, url=f"{site.url}/flaky")
    assert (result["status_code"], result["attempts"]) == (503, 3)  # the third failure opened it

    refused = await outbound(client, 503, url=f"{site.url}/flaky")
    assert "circuit breaker" in refused["detail"]
    assert len(site.hits("/flaky")) == 3  # refused without calling the host
    health = await (await client.get("/api/v1/http/health")).json()
    assert health["status"] == "degraded"
    assert health["open_circuits"] == [f"127.0.0.1:{site.port}"]

    site.fail_times = 0
    deadline = asyncio.get_running_loop().time() + 5
    while True:  # the breaker lets a probe through once its reset timeout has passed
        resp = await client.post("/api/v1/http/request", json={"url": f"{site.url}/flaky"}, headers=AUTH)
        if resp.status == 200:
            break
        assert resp.status == 503, await resp.text()
        assert asyncio.get_running_loop().time() < deadline, "the breaker never let a probe through"
        await asyncio.sleep(0.05)
    assert (await resp.json())["status_code"] == 200
    metrics = await (await client.get("/api/v1/http/metrics", headers=AUTH)).json()
    host = metrics["hosts"][0]
    assert (host["state"], host["opened_count"]) == ("closed", 1)
    assert (await (await client.get("/api/v1/http/health")).json())["status"] == "healthy"


async def test_a_denied_destination_is_refused(
    client: TestClient, site: FlakyHttp, denied_site: FlakyHttp
) -> None:
    refused = await outbound(client, 403, url=f"{denied_site.url}/echo")
    assert "deny list" in refused["detail"]
    assert denied_site.requests == []

    # A redirect to it is checked too, hop by hop.
    result = await outbound(
        client,
        403,
        url=f"{site.url}/redirect",
        params={"to": f"{denied_site.url}/echo"},
        follow_redirects=True,
    )
    assert "deny list" in result["detail"]
    assert denied_site.requests == []


async def test_link_local_metadata_is_refused_before_any_connection(client: TestClient) -> None:
    CONNECTS.clear()
    WATCHING.append(True)
    try:
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fe80::1]/",
        ):
            refused = await outbound(client, 403, url=url)
            assert "link-local" in refused["detail"]
    finally:
        WATCHING.clear()
    assert CONNECTS, "the hook saw no connection at all (the test client's own calls connect)"
    assert not [address for address in CONNECTS if "169.254" in str(address) or "fe80" in str(address)]


async def test_the_apps_own_api_is_refused(backend: Backend, client: TestClient, site: FlakyHttp) -> None:
    server = ApiServer(backend)
    url = await server.start()  # announces ApiStarted with the address it bound
    try:
        refused = await outbound(client, 403, url=f"{url}/api/v1/health")
        assert "own API" in refused["detail"]
    finally:
        await server.stop()

    # Anywhere, a request carrying the app's own API key is refused (it could only be meant for us).
    refused = await outbound(
        client, 403, url=f"{site.url}/echo", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert "own API key" in refused["detail"]
    assert API_KEY not in refused["detail"]
    assert site.requests == []


async def test_a_credential_reference_is_used_and_never_echoed(
    client: TestClient, site: FlakyHttp, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await create_agent(client)
    resp = await client.post(
        f"/api/v1/agents/{agent['id']}/secrets",
        json={"secret_key": "SITE_TOKEN", "secret_value": SECRET_VALUE},
        headers=AUTH,
    )
    assert resp.status in (200, 201), await resp.text()
    caplog.set_level(logging.DEBUG)

    resp = await client.post(
        "/api/v1/http/request",
        json={
            "method": "GET",
            "url": f"{site.url}/echo",
            "agent_id": agent["id"],
            "auth": {"secret_key": "SITE_TOKEN"},
            "headers": {"X-Api-Key": "key={{secret:SITE_TOKEN}}"},
        },
        headers=AUTH,
    )
    raw = await resp.text()
    assert resp.status == 200, raw
    (received,) = site.hits("/echo")
    assert received.headers["Authorization"] == f"Bearer {SECRET_VALUE}"
    assert received.headers["X-Api-Key"] == f"key={SECRET_VALUE}"
    # The site echoed the headers back; what we return has the value masked.
    assert SECRET_VALUE not in raw
    echoed = (await resp.json())["json_body"]["headers"]
    assert echoed["Authorization"] == "Bearer [secret]"

    record = await client.get(f"/api/v1/http/requests/{(await resp.json())['request_id']}", headers=AUTH)
    assert record.status == 200
    assert SECRET_VALUE not in await record.text()
    assert SECRET_VALUE not in caplog.text

    unknown = await outbound(
        client, 400, url=f"{site.url}/echo", agent_id=agent["id"], auth={"secret_key": "NOPE"}
    )
    assert "NOPE" in unknown["detail"]
    assert len(site.hits("/echo")) == 1


async def test_download_streams_with_progress_and_a_sha256(
    backend: Backend, client: TestClient, site: FlakyHttp, settings: Settings
) -> None:
    with backend.bus.subscribe(DownloadProgressed) as events:
        resp = await client.post(
            "/api/v1/http/stream-download",
            json={"url": f"{site.url}/big", "destination_path": "models/blob.bin"},
            headers=AUTH,
        )
        result = await resp.json()
        assert resp.status == 200, result
        seen = [await events.get() for _ in range(events.pending())]
    expected = site.big_bytes()
    assert result["bytes"] == len(expected)
    assert result["sha256"] == hashlib.sha256(expected).hexdigest()
    assert result["destination_path"] == "models/blob.bin"
    target = settings.data_dir / "downloads" / "models" / "blob.bin"
    assert target.read_bytes() == expected

    progress = [event for event in seen if not event.done]
    assert len(progress) >= 3
    assert [event.bytes_done for event in progress] == sorted(event.bytes_done for event in progress)
    assert all(event.total_bytes == len(expected) for event in progress)
    final = seen[-1]
    assert (final.done, final.ok, final.sha256, final.bytes_done) == (
        True,
        True,
        result["sha256"],
        len(expected),
    )

    record = await (await client.get(f"/api/v1/http/requests/{result['download_id']}", headers=AUTH)).json()
    assert (record["kind"], record["sha256"], record["response_bytes"]) == (
        "download",
        result["sha256"],
        len(expected),
    )


@pytest.mark.parametrize(
    "destination", ["../escape.bin", "/tmp/escape.bin", "out/escape.bin", "a/../../escape.bin"]
)
async def test_a_destination_outside_downloads_is_refused_and_nothing_written(
    client: TestClient, site: FlakyHttp, settings: Settings, tmp_path: Path, destination: str
) -> None:
    downloads = settings.data_dir / "downloads"
    outside = tmp_path / "outside"
    outside.mkdir()
    downloads.mkdir(parents=True, exist_ok=True)
    (downloads / "out").symlink_to(outside)  # a symlink leading out of the folder

    resp = await client.post(
        "/api/v1/http/stream-download",
        json={"url": f"{site.url}/big", "destination_path": destination},
        headers=AUTH,
    )
    body = await resp.json()
    assert resp.status == 400, body
    assert "downloads folder" in body["detail"]
    assert site.requests == []
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escape.bin").exists()
    assert sorted(path.name for path in downloads.iterdir()) == ["out"]


async def test_a_failed_download_leaves_no_partial_file(
    client: TestClient, site: FlakyHttp, settings: Settings
) -> None:
    site.cut_after = 256 * 1024
    resp = await client.post(
        "/api/v1/http/stream-download",
        json={"url": f"{site.url}/big", "destination_path": "cut.bin"},
        headers=AUTH,
    )
    body = await resp.json()
    assert resp.status == 503, body
    downloads = settings.data_dir / "downloads"
    assert [path for path in downloads.rglob("*") if path.is_file()] == []

    site.cut_after, site.big_size = None, 5 * 1024 * 1024  # over the 4 MiB limit
    resp = await client.post(
        "/api/v1/http/stream-download",
        json={"url": f"{site.url}/big", "destination_path": "big.bin"},
        headers=AUTH,
    )
    body = await resp.json()
    assert resp.status == 400, body
    assert "download limit" in body["detail"]
    assert [path for path in downloads.rglob("*") if path.is_file()] == []


async def test_metrics_reflect_the_requests_made(client: TestClient, site: FlakyHttp) -> None:
    site.fail_times = 1
    await outbound(client, url=f"{site.url}/flaky")  # one retry, then 200
    await outbound(client, url=f"{site.url}/echo")
    missing = await outbound(client, url=f"{site.url}/missing")
    assert missing["status_code"] == 404

    resp = await client.get("/api/v1/http/metrics", headers=AUTH)
    metrics = await resp.json()
    assert resp.status == 200, metrics
    assert (metrics["total_requests"], metrics["successful_requests"], metrics["failed_requests"]) == (
        3,
        2,
        1,
    )
    assert metrics["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert metrics["total_retries"] == 1
    assert metrics["stored_requests"] == 3
    assert 0 < metrics["p50_response_time_ms"] <= metrics["p99_response_time_ms"]
    assert metrics["average_response_time_ms"] > 0
    assert metrics["circuit_breakers"] == {f"127.0.0.1:{site.port}": "closed"}
    (host,) = metrics["hosts"]
    assert (host["requests"], host["failures"]) == (4, 1)
    assert (await client.get("/api/v1/http/metrics")).status == 401


async def test_bad_input_is_a_clear_error(client: TestClient, site: FlakyHttp) -> None:
    for url, word in (("not a url", "URL"), ("ftp://127.0.0.1/file", "ftp"), ("http:///nohost", "host")):
        body = await outbound(client, 422, url=url)
        assert word in str(body["detail"]), body
    body = await outbound(client, 422, url=f"{site.url}/echo", headers={"X": "{{secret:K}}"})
    assert "agent_id" in str(body["detail"])
    body = await outbound(client, 422, url=f"{site.url}/echo", method="TRACE")
    assert body["detail"][0]["loc"] == ["body", "method"]
    resp = await client.get("/api/v1/http/requests/no-such-id", headers=AUTH)
    assert resp.status == 404
    assert site.requests == []


async def test_unreachable_host_is_a_503_naming_it(client: TestClient, site: FlakyHttp) -> None:
    port = site.port
    await site.stop()
    body = await outbound(client, 503, url=f"http://127.0.0.1:{port}/flaky")
    assert f"127.0.0.1:{port}" in body["detail"]
    assert "3 attempts" in body["detail"]


async def test_the_guarded_client_is_reusable_by_other_services(
    backend: Backend, site: FlakyHttp, denied_site: FlakyHttp
) -> None:
    site.fail_times = 1
    async with backend.http.client() as http:
        response = await http.get(f"{site.url}/flaky")
        assert response.status_code == 200
        assert response.extensions["agentic.outcome"].attempts == 2
        with pytest.raises(DestinationDenied):
            await http.get(f"{denied_site.url}/echo")
        with pytest.raises(httpx.RequestError):  # connectors can catch it as an httpx error
            await http.get(f"{site.url}/redirect", params={"to": f"{denied_site.url}/echo"})
    assert denied_site.requests == []
    async with backend.http.client() as again:  # closing one client left the shared pool open
        assert (await again.get(f"{site.url}/echo")).status_code == 200


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"}), now=now) == 7.0
    date = "Fri, 15 Jan 2027 08:00:10 GMT"  # 1800000010
    assert retry_after_seconds(httpx.Headers({"Retry-After": date}), now=now) == pytest.approx(10.0)
    assert retry_after_seconds(
        httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(now + 20)}), now=now
    ) == pytest.approx(20.0)
    assert (
        retry_after_seconds(httpx.Headers({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "20"})) is None
    )
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None


async def test_an_allow_list_admits_only_what_it_names() -> None:
    policy = DestinationPolicy(allow=["10.0.0.0/8", "169.254.0.0/16", "lab.example"], deny=["10.9.0.0/16"])
    assert await policy.check(httpx.URL("http://10.1.2.3:8080/")) == {ipaddress.ip_address("10.1.2.3")}
    await policy.check(httpx.URL("http://169.254.10.10/"))  # listed explicitly: the default denial yields
    with pytest.raises(DestinationDenied, match="allow list"):
        await policy.check(httpx.URL("http://127.0.0.1/"))
    with pytest.raises(DestinationDenied, match="deny list"):
        await policy.check(httpx.URL("http://10.9.0.1/"))
    open_policy = DestinationPolicy(allow=[], deny=[])
    await open_policy.check(httpx.URL("http://192.168.1.20:11434/"))  # the LAN is allowed by default
    with pytest.raises(DestinationDenied, match="link-local"):
        await open_policy.check(httpx.URL("http://169.254.169.254/"))
