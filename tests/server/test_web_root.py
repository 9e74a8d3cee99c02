"""A built web client served at ``/``: files, MIME types, caching, SPA fallback, and safety."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from server.api.app import create_app
from server.backend import Backend
from server.cli import parse
from server.config import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aiohttp.test_utils import TestClient

INDEX_HTML = (
    '<!doctype html><html><head><script type="module" src="/assets/index-abcdef12.js"></script>'
    '</head><body><div id="root"></div></body></html>\n'
)
JS = "console.log('client');\n"
CSS = "body { margin: 0; }\n"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"></svg>\n'
FONT = b"wOF2\x00\x01\x00\x00fake-font-bytes"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small Vite-style build: index.html, hashed assets, a favicon, a font, a manifest."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (root / "assets" / "index-abcdef12.js").write_text(JS, encoding="utf-8")
    (root / "assets" / "style-0123abcd.css").write_text(CSS, encoding="utf-8")
    (root / "assets" / "inter-Bx9_k2Lq.woff2").write_bytes(FONT)
    (root / "assets" / "index-abcdef12.js.map").write_text('{"version": 3}', encoding="utf-8")
    (root / "assets" / "engine-0a1b2c3d.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    (root / "assets" / "logo.svg").write_text(SVG, encoding="utf-8")
    (root / "favicon.svg").write_text(SVG, encoding="utf-8")
    (root / "manifest.webmanifest").write_text('{"name": "Agentic"}', encoding="utf-8")
    (root / "config.json").write_text('{"api": "/api/v1"}', encoding="utf-8")
    (root / ".env").write_text("SECRET=1\n", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("outside the web root\n", encoding="utf-8")
    return root


@pytest.fixture
async def web_client(aiohttp_client: object, settings: Settings, site: Path) -> AsyncIterator[TestClient]:
    """The real app factory over a Backend whose settings serve ``site``."""
    served = settings.model_copy(update={"web_root": Settings(web_root=site).web_root})
    backend = Backend(served)
    await backend.start()
    try:
        yield await aiohttp_client(create_app(backend))  # type: ignore[operator]
    finally:
        await backend.stop()


async def raw_get(client: TestClient, path: str) -> tuple[int, bytes, bytes]:
    """``GET path`` sent byte for byte (an HTTP client would normalise ``..`` away first)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    headers = dict(line.split(b": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers.get(b"Content-Type", b""), body


@pytest.mark.parametrize("path", ["/", "/index.html", "/agents/123", "/tasks/abc/logs", "/settings?tab=x"])
async def test_index_and_client_routes_answer_index_html_uncached(web_client: TestClient, path: str) -> None:
    resp = await web_client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert await resp.text() == INDEX_HTML


@pytest.mark.parametrize(
    ("path", "mime", "cache", "body"),
    [
        ("/assets/index-abcdef12.js", "text/javascript; charset=utf-8", IMMUTABLE, JS.encode()),
        ("/assets/style-0123abcd.css", "text/css; charset=utf-8", IMMUTABLE, CSS.encode()),
        ("/assets/inter-Bx9_k2Lq.woff2", "font/woff2", IMMUTABLE, FONT),
        ("/assets/engine-0a1b2c3d.wasm", "application/wasm", IMMUTABLE, b"\x00asm\x01\x00\x00\x00"),
        ("/assets/index-abcdef12.js.map", "application/json", "no-cache", b'{"version": 3}'),
        ("/assets/logo.svg", "image/svg+xml", "no-cache", SVG.encode()),
        ("/favicon.svg", "image/svg+xml", "no-cache", SVG.encode()),
        ("/manifest.webmanifest", "application/manifest+json", "no-cache", b'{"name": "Agentic"}'),
        ("/config.json", "application/json", "no-cache", b'{"api": "/api/v1"}'),
    ],
)
async def test_files_have_their_mime_type_and_caching(
    web_client: TestClient, path: str, mime: str, cache: str, body: bytes
) -> None:
    resp = await web_client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == mime
    assert resp.headers["Cache-Control"] == cache
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert await resp.read() == body


async def test_head_answers_headers_without_a_body(web_client: TestClient) -> None:
    for path, mime in [
        ("/assets/index-abcdef12.js", "text/javascript; charset=utf-8"),
        ("/agents/1", "text/html; charset=utf-8"),
    ]:
        resp = await web_client.head(path)
        assert resp.status == 200
        assert resp.headers["Content-Type"] == mime
        assert await resp.read() == b""


async def test_etag_revalidation_answers_304(web_client: TestClient) -> None:
    first = await web_client.get("/")
    etag = first.headers["ETag"]
    again = await web_client.get("/agents/7", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    asset = await web_client.get("/assets/style-0123abcd.css")
    assert (
        await web_client.get("/assets/style-0123abcd.css", headers={"If-None-Match": asset.headers["ETag"]})
    ).status == 304


async def test_missing_build_output_is_a_404_not_the_index(web_client: TestClient) -> None:
    resp = await web_client.get("/assets/index-99999999.js")
    assert resp.status == 404
    assert resp.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/api/v1/nonexistent", "/api/v1/agents/1/nope", "/api", "/ws/nope"])
async def test_api_and_websocket_paths_stay_json_404s(web_client: TestClient, path: str) -> None:
    resp = await web_client.get(path)
    assert resp.status == 404
    assert resp.headers["Content-Type"] == "application/json"
    assert await resp.json() == {"detail": "Not Found", "status_code": 404}


async def test_api_methods_and_routes_are_unaffected(web_client: TestClient) -> None:
    assert (await web_client.post("/api/v1/nonexistent")).status == 404
    assert (await web_client.put("/api/v1/health")).status == 405
    health = await web_client.get("/api/v1/health")
    assert health.status == 200
    assert (await health.json())["status"] == "healthy"


async def test_docs_and_openapi_are_unaffected(web_client: TestClient) -> None:
    document = await web_client.get("/openapi.json")
    assert document.status == 200
    assert (await document.json())["openapi"] == "3.1.0"
    for page in ("/docs", "/redoc"):
        resp = await web_client.get(page)
        assert resp.status == 200
        assert '<div id="root">' not in await resp.text()
    missing = await web_client.get("/docs/static/missing.js")
    assert missing.status == 404


async def test_websocket_still_upgrades(web_client: TestClient) -> None:
    from tests.conftest import API_KEY

    async with web_client.ws_connect(f"/ws/logs?token={API_KEY}") as ws:
        await ws.send_json({"type": "ping"})
        kinds = [(await ws.receive_json(timeout=5))["type"] for _ in range(2)]
        assert "pong" in kinds


@pytest.mark.parametrize(
    "path",
    [
        "/../outside.txt",
        "/assets/../../outside.txt",
        "/./../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E/outside.txt",
        "/assets/%2e%2e/%2e%2e/outside.txt",
        "/assets/..%2f..%2foutside.txt",
        "/%2e%2e%2foutside.txt",
        "/assets/..%5c..%5coutside.txt",
        "/.env",
        "/%2eenv",
        "/%00",
    ],
)
async def test_traversal_and_dot_files_are_404s(web_client: TestClient, path: str) -> None:
    status, mime, body = await raw_get(web_client, path)
    assert status == 404
    assert mime == b"application/json"
    assert b"outside the web root" not in body
    assert b"SECRET" not in body


async def test_raw_request_for_a_real_file_is_served(web_client: TestClient) -> None:
    """The raw helper above can see a 200, so its 404s mean something."""
    status, mime, body = await raw_get(web_client, "/assets/./index-abcdef12.js")
    assert (status, mime, body) == (200, b"text/javascript; charset=utf-8", JS.encode())


async def test_symlink_out_of_the_root_is_a_404(web_client: TestClient, site: Path) -> None:
    outside = site.parent / "outside.txt"
    try:
        os.symlink(outside, site / "leak.txt")
        os.symlink(site.parent, site / "assets" / "up-abcdef12")
    except OSError:
        pytest.skip("this file system cannot make symlinks")
    assert (await web_client.get("/leak.txt")).status == 404
    assert (await web_client.get("/assets/up-abcdef12/outside.txt")).status == 404
    os.symlink(site / "favicon.svg", site / "icon.svg")
    inside = await web_client.get("/icon.svg")
    assert inside.status == 200
    assert await inside.text() == SVG


async def test_without_a_web_root_slash_is_the_json_404_it_was(client: TestClient) -> None:
    for path in ("/", "/agents/123", "/index.html"):
        resp = await client.get(path)
        assert resp.status == 404
        assert await resp.json() == {"detail": "Not Found", "status_code": 404}


def test_missing_web_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"web client folder .*nowhere does not exist"):
        Settings(web_root=tmp_path / "nowhere")


def test_web_root_without_index_html_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(ValidationError, match=r"has no index\.html"):
        Settings(web_root=tmp_path / "src")


def test_bad_web_root_flag_stops_start_up_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("agentic-server", "", ["--web-root", str(tmp_path / "nowhere")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid configuration: web_root" in err
    assert "does not exist" in err
