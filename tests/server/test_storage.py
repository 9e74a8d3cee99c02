"""The database: migrations on start, WAL and foreign keys, models matching the migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, text

from server.backend import Backend, BackendError
from server.db import migrate
from server.db.base import Base
from server.db.engine import display_url
from server.db.models import UserRow

if TYPE_CHECKING:
    from server.config import Settings


async def test_start_migrates_the_database_to_head(backend: Backend) -> None:
    assert await migrate.current_revision(backend.engine) == migrate.head_revision()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(backend: Backend) -> None:
    async with backend.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_orm_models_match_the_migrations(backend: Backend) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(connection: object) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))  # type: ignore[arg-type]

    async with backend.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_data_survives_a_restart(settings: Settings) -> None:
    first = Backend(settings)
    await first.start()
    await first.stop()
    second = Backend(settings)
    await second.start()
    try:
        async with second.sessions() as session:
            users = (await session.scalars(select(UserRow.username))).all()
        assert users == [settings.admin_user]
        assert await migrate.current_revision(second.engine) == migrate.head_revision()
    finally:
        await second.stop()


async def test_stopped_backend_has_released_the_database(settings: Settings) -> None:
    backend = Backend(settings)
    await backend.start()
    engine = backend.engine
    await backend.stop()
    assert engine.pool.checkedout() == 0
    assert backend.started_at is None


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////nonexistent-dir/sub/agentic.db",
        "postgresql+asyncpg://agentic:hunter2@127.0.0.1:1/agentic",
        "postgresql+asyncpg://agentic:hunter2@x@127.0.0.1:1/agentic",  # an unescaped "@" in it
        "postgresql+asyncpg://agentic:hunter2@127.0.0.1:port/agentic",  # does not parse
    ],
)
async def test_unusable_database_is_a_clear_start_error_without_the_password(
    settings: Settings, url: str
) -> None:
    backend = Backend(settings.model_copy(update={"database_url": url}))
    with pytest.raises(BackendError, match="Cannot open the database at") as error:
        await backend.start()
    assert "hunter2" not in str(error.value)
    assert backend.started_at is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+asyncpg://agentic:s3cr%40t@db.lan:5432/agentic",
            "postgresql+asyncpg://agentic:***@db.lan:5432/agentic",
        ),
        (
            "postgresql+asyncpg://agentic:s3cr@t@db.lan/agentic",
            "postgresql+asyncpg://agentic:***@db.lan/agentic",
        ),
        (
            "postgresql+asyncpg://agentic:s3cret@db.lan:port/agentic",
            "postgresql+asyncpg://agentic:***@db.lan:port/agentic",
        ),
        ("postgresql+asyncpg://db.lan/agentic", "postgresql+asyncpg://db.lan/agentic"),
        ("sqlite+aiosqlite:////data/agentic.db", "sqlite+aiosqlite:////data/agentic.db"),
    ],
)
def test_display_url_masks_the_password(url: str, shown: str) -> None:
    assert display_url(url) == shown
