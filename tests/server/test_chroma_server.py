"""AGENTIC_CHROMA_URL: the same index and search against a real Chroma server (``chroma run``).

The server is the ``chroma`` program that comes with the chromadb package, started on a free
loopback port with its store in a temporary folder, and stopped at the end.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from server.api.app import create_app
from server.backend import Backend
from server.services.semantic_types import IndexDoc
from tests.conftest import API_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from aiohttp.test_utils import TestClient

    from server.config import Settings

AUTH = {"Authorization": f"Bearer {API_KEY}"}
START_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_program() -> str:
    found = Path(sys.executable).with_name("chroma")
    program = str(found) if found.exists() else shutil.which("chroma")
    if program is None:
        pytest.skip("the chroma program (from the chromadb package) is not installed")
    return program


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server on loopback; polled until its heartbeat answers."""
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (folder / "chroma.log").open("wb")
    process = subprocess.Popen(
        [chroma_program(), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"chroma run exited with {process.returncode}: {(folder / 'chroma.log').read_text()}"
                )
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chroma run did not answer within {START_DEADLINE}s")
            time.sleep(0.05)  # polling the heartbeat, with a deadline
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def server_settings(settings: Settings, chroma_url: str) -> Settings:
    return settings.model_copy(update={"chroma_url": chroma_url})


@pytest.fixture
async def server_backend(server_settings: Settings) -> AsyncIterator[Backend]:
    backend = Backend(server_settings)
    await backend.start()
    yield backend
    await backend.semantic.remove(["cats", "rockets", "bread"])  # the server outlives each test
    await backend.stop()


@pytest.fixture
async def server_client(aiohttp_client: Any, server_backend: Backend) -> TestClient:
    return await aiohttp_client(create_app(server_backend))  # type: ignore[no-any-return]


DOCS = [
    IndexDoc("cats", "Cats purr and chase mice around the barn; a cat naps in the sun.", {"source": "blog"}),
    IndexDoc(
        "rockets", "Rockets burn fuel to launch satellites into orbit around the earth.", {"source": "news"}
    ),
    IndexDoc("bread", "Bake bread with flour, water, yeast and salt; knead the dough.", {"source": "blog"}),
]


async def search(client: TestClient, body: dict[str, Any]) -> list[str]:
    resp = await client.post("/api/v1/semantic/search", json=body, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return [hit["item_id"] for hit in (await resp.json())["results"]]


async def test_search_through_a_chroma_server_finds_the_right_item(
    server_client: TestClient, server_backend: Backend, server_settings: Settings
) -> None:
    await server_backend.semantic.index(DOCS)
    assert (await search(server_client, {"query": "rockets launch into orbit", "top_k": 3}))[0] == "rockets"
    assert not (server_settings.data_dir / "chroma").exists()  # nothing embedded in the data dir


async def test_metadata_filter_works_on_the_chroma_server(
    server_client: TestClient, server_backend: Backend
) -> None:
    await server_backend.semantic.index(DOCS)
    found = await search(server_client, {"query": "rockets orbit", "top_k": 5, "where": {"source": "blog"}})
    assert set(found) == {"cats", "bread"}


async def test_items_stored_by_one_backend_are_found_by_the_next(server_settings: Settings) -> None:
    first = Backend(server_settings)
    await first.start()
    try:
        await first.semantic.index([IndexDoc("shared", "Glaciers carve valleys over centuries.", {})])
    finally:
        await first.stop()
    second = Backend(server_settings)
    await second.start()
    try:
        found = await second.semantic.search(query="glaciers carving valleys", top_k=1)
        await second.semantic.remove(["shared"])
    finally:
        await second.stop()
    assert [hit.item_id for hit in found.results] == ["shared"]


async def test_an_unreachable_chroma_server_is_503(aiohttp_client: Any, settings: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = Backend(settings.model_copy(update={"chroma_url": url}))
    await backend.start()
    try:
        client = await aiohttp_client(create_app(backend))
        resp = await client.post("/api/v1/semantic/search", json={"query": "x"}, headers=AUTH)
        body = await resp.json()
    finally:
        await backend.stop()
    assert resp.status == 503
    assert url in body["detail"]
