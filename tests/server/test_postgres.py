"""The API once against a real PostgreSQL server that these tests start themselves.

`AGENTIC_DATABASE_URL=postgresql+asyncpg://...` is how a window and headless servers on several
boxes share one database. The server is started by pytest-postgresql's executor from Debian's
`postgresql` package (`pg_ctl` under /usr/lib/postgresql/<version>/bin), once for the module, with a
fresh database made by its janitor; every test starts its own Backend on that database.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from server.api.app import create_app
from server.backend import Backend
from server.config import Settings
from server.db.migrate import current_revision, head_revision
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, API_KEY, bearer, create_agent, login, wait_for_task

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from aiohttp.test_utils import TestClient

    from tests.fakes.ollama import FakeOllama


def find_pg_ctl() -> str | None:
    """`pg_ctl` on PATH, else the newest one Debian's postgresql package installed."""
    found = shutil.which("pg_ctl")
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return str(versions[-1]) if versions else None


def why_not_runnable() -> str | None:
    """Why PostgreSQL cannot be started here, or ``None`` when it can."""
    if PG_CTL is None:
        return "no pg_ctl found (install Debian's postgresql package, as .ci/run does)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres account to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, and there is no runuser to run PostgreSQL as postgres"
    return None


PG_CTL = find_pg_ctl()
NOT_RUNNABLE = why_not_runnable()

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(NOT_RUNNABLE is not None, reason=NOT_RUNNABLE or ""),
]

# initdb and postgres refuse to run as root; as root the server runs as the package's postgres account.
PG_CTL_AS_POSTGRES = '#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n'


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """Start PostgreSQL once for the module and hand out the URL of a fresh database in it."""
    from port_for import get_port
    from pytest_postgresql.executors.proc import PostgreSQLExecutor
    from pytest_postgresql.janitor import DatabaseJanitor

    assert PG_CTL is not None
    workdir = Path(tempfile.mkdtemp(prefix="agentic-pg-"))
    executable = PG_CTL
    if os.geteuid() == 0:
        import pwd

        account = pwd.getpwnam("postgres")
        os.chown(workdir, account.pw_uid, account.pw_gid)
        wrapper = workdir / "pg_ctl"
        wrapper.write_text(PG_CTL_AS_POSTGRES.format(pg_ctl=PG_CTL))
        wrapper.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        executable = str(wrapper)
    port = get_port(None)
    assert port is not None
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=port,
        datadir=str(workdir / "data"),
        unixsocketdir=str(workdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="agentic",
    )
    try:
        with executor:
            executor.wait_for_postgres()
            janitor = DatabaseJanitor(
                user=executor.user, host=executor.host, port=executor.port, dbname="agentic"
            )
            with janitor:
                yield f"postgresql+asyncpg://{executor.user}@{executor.host}:{executor.port}/agentic"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the module: its key files (vault master key, JWT secret) go with the database."""
    return tmp_path_factory.mktemp("pg-box-one") / "data"


@pytest.fixture
def settings(data_dir: Path, fake_ollama: FakeOllama, postgres_url: str) -> Settings:
    """The shared fixtures' settings, on PostgreSQL."""
    return Settings(
        data_dir=data_dir,
        port=0,
        ollama_host=fake_ollama.url,
        api_key=API_KEY,
        admin_user=ADMIN_USER,
        admin_password=ADMIN_PASSWORD,
        database_url=postgres_url,
    )


@pytest.fixture
async def second_backend(settings: Settings, tmp_path: Path) -> AsyncIterator[Backend]:
    """Another server on another box: its own data dir (same key files), the same database."""
    other_dir = tmp_path / "other-box"
    shutil.copytree(settings.data_dir, other_dir)
    other = Backend(settings.model_copy(update={"data_dir": other_dir}))
    await other.start()
    yield other
    await other.stop()


async def test_migrations_reach_head_on_postgresql(backend: Backend) -> None:
    assert backend.engine.dialect.name == "postgresql"
    assert await current_revision(backend.engine) == head_revision()

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.db.base import Base

    def diff(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with backend.engine.connect() as connection:  # the migrated PG schema is the models' schema
        assert await connection.run_sync(diff) == []


async def test_core_api_flows_on_postgresql(
    client: TestClient, backend: Backend, fake_ollama: FakeOllama, auth_headers: dict[str, str]
) -> None:
    token = await login(client)
    assert (await client.get("/api/v1/health")).status == 200

    agent = await create_agent(
        client,
        name="PG summarizer",
        config={"temperature": 0.1, "system_prompt": "Token: {{secret:pg_token}}"},
        secrets=[{"key": "pg_token", "value": "pg-secret-value-1"}],
    )
    listed = await (await client.get(f"/api/v1/agents/{agent['id']}/secrets", headers=bearer(token))).json()
    assert "pg-secret-value-1" not in str(listed)

    fake_ollama.replies.append("Stored in PostgreSQL.")
    resp = await client.post(
        "/api/v1/tasks/run",
        json={"agent_id": agent["id"], "input": {"type": "generate", "prompt": "Where?"}},
        headers=auth_headers,
    )
    assert resp.status == 202, await resp.text()
    task: dict[str, Any] = await resp.json()
    done = await wait_for_task(client, task["id"])
    assert done["status"] == "completed", done
    assert done["output"] == {"type": "generate", "response": "Stored in PostgreSQL."}
    generate = next(body for _, path, body in fake_ollama.requests if path == "/api/generate")
    assert "pg-secret-value-1" in str(generate)  # the secret reached the model, decrypted

    by_agent = await (
        await client.get("/api/v1/tasks", params={"agent_id": agent["id"], "status": "completed"})
    ).json()
    assert [t["id"] for t in by_agent] == [task["id"]]
    assert (
        await (await client.get("/api/v1/tasks", params={"agent_id": agent["id"], "status": "failed"})).json()
        == []
    )

    backend.logs.record("warning", "PG disk almost full", source="system")
    history = await (await client.get("/api/v1/logs/history", params={"search": "pg disk"})).json()
    assert [entry["message"] for entry in history] == ["PG disk almost full"]

    session_resp = await client.post(
        "/api/v1/chat/sessions",
        json={"session_type": "general", "model_name": "llama3.2:latest", "title": "PG chat"},
        headers=auth_headers,
    )
    assert session_resp.status == 200, await session_resp.text()
    session = await session_resp.json()
    fake_ollama.replies.append("Hello from the shared database.")
    said = await client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages", json={"message": "Hi"}, headers=auth_headers
    )
    assert said.status == 200, await said.text()
    assert "Hello from the shared database." in str(await said.json())

    incident = await backend.security.record("EXECUTION_TIMEOUT", "slow on PG", agent_id=agent["id"])
    page = await (
        await client.get(f"/api/v1/security/incidents?agent_id={agent['id']}", headers=auth_headers)
    ).json()
    assert [i["incident_id"] for i in page["incidents"]] == [incident.id]
    assert page["total_count"] == 1


async def test_two_backends_share_one_database(
    client: TestClient, backend: Backend, second_backend: Backend, aiohttp_client: Any
) -> None:
    other_client: TestClient = await aiohttp_client(create_app(second_backend))
    mine = await create_agent(client, name="Made on box one")
    theirs = await create_agent(other_client, name="Made on box two")
    on_two = await (await other_client.get(f"/api/v1/agents/{mine['id']}", headers=bearer(API_KEY))).json()
    on_one = await (await client.get(f"/api/v1/agents/{theirs['id']}", headers=bearer(API_KEY))).json()
    assert (on_two["name"], on_one["name"]) == ("Made on box one", "Made on box two")
    token = await login(other_client)  # the same operator account and JWT secret on both boxes
    assert (await client.get("/api/v1/agents", headers=bearer(token))).status == 200
