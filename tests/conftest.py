"""Shared fixtures: an isolated environment, the fake Ollama, a started Backend, the app client."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

# Before anything imports Qt.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest

from server.api.app import create_app
from server.backend import Backend
from server.config import Settings
from tests.fakes.ollama import FakeOllama

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aiohttp.test_utils import TestClient

API_KEY = "test-api-key-0123456789"
ADMIN_USER = "operator"
ADMIN_PASSWORD = "operator-password-1"
CONFIG_ENV = ("API_KEY", "OLLAMA_HOST", "SECURITY_LEVEL", "LOG_LEVEL")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own configuration or data dir."""
    for name in list(os.environ):
        if name.startswith("AGENTIC_") or name in CONFIG_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AGENTIC_DATA_DIR", str(tmp_path / "default-data-dir"))
    # Never the developer's real OS keyring: tests that need one install an in-memory keyring.
    monkeypatch.setenv("AGENTIC_VAULT_BACKEND", "file")


@pytest.fixture(autouse=True)
async def verify_cleanup() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    yield
    current = asyncio.current_task()
    leftovers = {task for task in asyncio.all_tasks() if task is not current and not task.done()}
    if leftovers:
        # Cancelled handlers and async-generator finalizers need a few loop turns to finish.
        _, leftovers = await asyncio.wait(leftovers, timeout=2)
    assert not leftovers, f"tasks left running: {leftovers}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def fake_ollama() -> AsyncIterator[FakeOllama]:
    fake = FakeOllama()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def settings(data_dir: Path, fake_ollama: FakeOllama) -> Settings:
    return Settings(
        data_dir=data_dir,
        port=0,
        ollama_host=fake_ollama.url,
        api_key=API_KEY,
        admin_user=ADMIN_USER,
        admin_password=ADMIN_PASSWORD,
        cors_origins=["http://localhost:3000"],
    )


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[Backend]:
    backend = Backend(settings)
    await backend.start()
    yield backend
    await backend.stop()


@pytest.fixture
async def client(aiohttp_client: object, backend: Backend) -> TestClient:
    return await aiohttp_client(create_app(backend))  # type: ignore[operator, no-any-return]


@pytest.fixture
def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


async def login(client: TestClient, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> str:
    """Log in through the API and return the access token."""
    resp = await client.post("/api/v1/auth/login", data={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_agent(client: TestClient, **fields: object) -> dict[str, object]:
    """Create an agent through the API (a static one on llama3.2 unless told otherwise)."""
    body = {"name": "Summarizer", "description": "test agent", "model_name": "llama3.2:latest", **fields}
    resp = await client.post("/api/v1/agents/create", json=body, headers=bearer(API_KEY))
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def wait_for_task(
    client: TestClient,
    task_id: str,
    statuses: tuple[str, ...] = ("completed", "failed", "cancelled"),
    deadline: float = 10.0,
) -> dict[str, object]:
    """Poll a task's status until it is one of ``statuses`` (fails after ``deadline`` seconds)."""
    end = asyncio.get_running_loop().time() + deadline
    while True:
        resp = await client.get(f"/api/v1/tasks/{task_id}/status")
        body = dict(await resp.json())
        if body["status"] in statuses:
            return body
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"task still {body['status']} after {deadline}s: {body}")
        await asyncio.sleep(0.02)
