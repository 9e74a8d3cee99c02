"""The async engine: SQLite (WAL, foreign keys on) by default, any SQLAlchemy async URL otherwise."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from pathlib import Path


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    """Create the engine for ``url``; SQLite connections get WAL, foreign keys and a busy timeout.

    For SQLite the pool does not roll back again when a connection comes back: sessions and
    connections already end their transactions, and with aiosqlite every statement (that extra
    ROLLBACK included) is a round trip to the driver's thread.

    A database server (PostgreSQL, shared by several boxes) gets a bounded pool whose connections
    are checked before use and replaced after half an hour, so a server restart or a connection a
    firewall dropped in between costs a reconnect, not a failed request.
    """
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, pool_reset_on_return=None)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_reset_on_return="rollback",
        pool_size=5,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,
    )


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory; every service call opens its own session from it."""
    return async_sessionmaker(engine, expire_on_commit=False)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or ``None`` for other databases and in-memory SQLite."""
    from pathlib import Path

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def display_url(url: str) -> str:
    """``url`` with any password masked, for logs, errors and the window (even one that does not parse)."""
    if url.count("@") <= 1:
        try:
            return make_url(url).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            pass
    # Unparseable, or a password with an unescaped "@" that would split it: mask to the last "@".
    return _CREDENTIALS.sub(r"\1***@", url)


_CREDENTIALS = re.compile(r"(://[^:/@]*:).*@")
