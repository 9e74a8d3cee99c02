"""``agentic-server secrets rotate-key``: re-encrypt every secret under a new master key."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TYPE_CHECKING

from server.cli import build_parser, settings_from_args

if TYPE_CHECKING:
    from collections.abc import Sequence

    from server.config import Settings


async def rotate(settings: Settings) -> str:
    """Open the vault of ``settings.data_dir`` and rotate its key; returns what to tell the operator."""
    from server.bus import EventBus
    from server.db import migrate
    from server.db.engine import make_engine, make_sessions
    from server.services.secrets import Actor, SecretsService
    from server.services.vault_keys import choose_store

    engine = make_engine(settings.resolved_database_url)
    try:
        await migrate.upgrade(engine)
        store, _ = await asyncio.to_thread(choose_store, settings.vault_backend, settings.data_dir)
        vault = SecretsService(make_sessions(engine), EventBus(), store)
        await vault.open()
        count = await vault.rotate_key(Actor(getpass.getuser(), "cli"))
    finally:
        await engine.dispose()
    return (
        f"Re-encrypted {count} secret(s) under a new master key, kept in {store.location}. "
        "The old key no longer works."
    )


def main(argv: Sequence[str]) -> int:
    """Run one ``secrets`` subcommand; exit status 0 on success, 2 with a message otherwise."""
    from server.runtime import running_instance
    from server.services.errors import AgenticError
    from server.services.vault_keys import KeyStoreError

    parser = build_parser("agentic-server secrets", "Manage the secrets vault.")
    parser.add_argument(
        "command", choices=["rotate-key"], help="rotate-key: new master key, every secret re-encrypted"
    )
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    running = running_instance(settings.data_dir)
    if running is not None:
        sys.stderr.write(
            f"The app is running on this data dir (pid {running.get('pid')}, {running.get('url')}): "
            "quit it first, then rotate the key.\n"
        )
        return 2
    try:
        sys.stdout.write(asyncio.run(rotate(settings)) + "\n")
    except (AgenticError, KeyStoreError) as exc:
        sys.stderr.write(f"Cannot rotate the vault key: {exc}\n")
        return 2
    return 0
