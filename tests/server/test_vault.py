"""The vault's master key: keyring or 0600 file, a missing or wrong key stops the start without
touching anything, and rotation (also from the command line) keeps every secret readable."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from typing import TYPE_CHECKING

import keyring
import pytest
from cryptography.fernet import Fernet, InvalidToken

from server import secrets_cli
from server.backend import Backend, BackendError
from server.runtime import write_runtime
from server.services.agents import AgentDraft
from server.services.secrets import Actor, SecretDraft
from server.services.vault_keys import KEY_FILE, KEYRING_SERVICE, KeyringKeyStore

if TYPE_CHECKING:
    from pathlib import Path

    from server.config import Settings

WINDOW = Actor("tester", "window")
NO_OLLAMA = "http://127.0.0.1:9"  # refused at once


class MemoryKeyring:
    """An OS keyring that lives in memory, with keyring's backend interface. (Not a KeyringBackend
    subclass: keyring registers those and would pick this one for every other test too.)"""

    priority = 5

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    ring = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: ring)
    return ring


async def store_one_secret(settings: Settings, value: str = "s3cret-value") -> tuple[str, str]:
    """Start a backend, store a secret for a new agent, stop; returns (agent id, secret id)."""
    backend = Backend(settings)
    await backend.start()
    try:
        agent = await backend.agents.create(AgentDraft(name="A", agent_type="mail"))  # no model to check
        secret = await backend.secrets.create(
            agent.id, SecretDraft(secret_key="token", secret_value=value), WINDOW
        )
    finally:
        await backend.stop()
    return agent.id, secret.id


async def read_value(settings: Settings, agent_id: str) -> str:
    backend = Backend(settings)
    await backend.start()
    try:
        return await backend.secrets.value(agent_id, "token", WINDOW)
    finally:
        await backend.stop()


def ciphertexts(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "agentic.db") as db:
        return [row[0] for row in db.execute("SELECT encrypted_value FROM agent_secrets")]


async def test_without_a_keyring_the_key_is_a_private_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        settings, "vault_backend", "auto"
    )  # the test env pins "file"; auto finds no keyring here
    agent_id, _ = await store_one_secret(settings)
    key_file = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(json.loads(key_file.read_text())) == 1
    assert await read_value(settings, agent_id) == "s3cret-value"


async def test_an_os_keyring_holds_the_key_when_there_is_one(
    settings: Settings, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "vault_backend", "auto")
    agent_id, _ = await store_one_secret(settings)
    assert not (settings.data_dir / KEY_FILE).exists()
    (entry,) = memory_keyring.entries
    assert entry == (KEYRING_SERVICE, f"vault-master-key:{settings.data_dir}")
    assert await read_value(settings, agent_id) == "s3cret-value"


async def test_auto_keeps_an_existing_key_file_even_when_a_keyring_appears(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "vault_backend", "auto")
    agent_id, _ = await store_one_secret(settings)  # no keyring: a key file
    ring = MemoryKeyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: ring)
    assert await read_value(settings, agent_id) == "s3cret-value"
    assert ring.entries == {}


async def test_asking_for_a_keyring_where_there_is_none_is_a_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "vault_backend", "keyring")
    with pytest.raises(BackendError, match="AGENTIC_VAULT_BACKEND=keyring, but no OS keyring backend"):
        await Backend(settings).start()


async def test_a_missing_key_stops_the_start_and_changes_nothing(settings: Settings) -> None:
    await store_one_secret(settings)
    before = ciphertexts(settings.data_dir)
    (settings.data_dir / KEY_FILE).unlink()
    with pytest.raises(BackendError, match=r"master key is missing .* holds 1 encrypted secret"):
        await Backend(settings).start()
    assert not (settings.data_dir / KEY_FILE).exists()  # no new key made up over the old secrets
    assert ciphertexts(settings.data_dir) == before


async def test_a_wrong_key_stops_the_start_and_changes_nothing(settings: Settings) -> None:
    agent_id, _ = await store_one_secret(settings)
    key_file = settings.data_dir / KEY_FILE
    right = key_file.read_text()
    before = ciphertexts(settings.data_dir)
    key_file.write_text(json.dumps([Fernet.generate_key().decode()]))
    with pytest.raises(BackendError, match="does not match this database"):
        await Backend(settings).start()
    assert ciphertexts(settings.data_dir) == before
    key_file.write_text(right)
    assert await read_value(settings, agent_id) == "s3cret-value"


async def test_a_damaged_key_file_is_named(settings: Settings) -> None:
    await store_one_secret(settings)
    (settings.data_dir / KEY_FILE).write_text("not json")
    with pytest.raises(BackendError, match="is damaged"):
        await Backend(settings).start()


async def test_rotation_keeps_every_secret_and_retires_the_old_key(settings: Settings) -> None:
    agent_id, _ = await store_one_secret(settings)
    old_key = json.loads((settings.data_dir / KEY_FILE).read_text())[0]
    backend = Backend(settings)
    await backend.start()
    try:
        assert await backend.secrets.rotate_key(WINDOW) == 1
        assert await backend.secrets.value(agent_id, "token", WINDOW) == "s3cret-value"
    finally:
        await backend.stop()
    new_keys = json.loads((settings.data_dir / KEY_FILE).read_text())
    assert len(new_keys) == 1
    assert new_keys[0] != old_key
    (token,) = ciphertexts(settings.data_dir)
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(token.encode())
    assert Fernet(new_keys[0].encode()).decrypt(token.encode()) == b"s3cret-value"
    assert await read_value(settings, agent_id) == "s3cret-value"  # a fresh start opens it too


@pytest.fixture
def offline(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for tests outside the event loop (where the fake Ollama cannot answer): no Ollama."""
    monkeypatch.setattr(settings, "ollama_host", NO_OLLAMA)
    return settings


def test_rotate_key_from_the_command_line(offline: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    settings = offline
    agent_id, _ = asyncio.run(store_one_secret(settings))
    old_key = (settings.data_dir / KEY_FILE).read_text()
    status = secrets_cli.main(["rotate-key", "--data-dir", str(settings.data_dir)])
    out = capsys.readouterr().out
    assert status == 0
    assert "Re-encrypted 1 secret(s)" in out
    assert (settings.data_dir / KEY_FILE).read_text() != old_key
    assert asyncio.run(read_value(settings, agent_id)) == "s3cret-value"


def test_the_command_line_refuses_to_rotate_under_a_running_app(
    offline: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = offline
    asyncio.run(store_one_secret(settings))
    runtime = write_runtime(settings.data_dir, url="http://127.0.0.1:1", mode="headless")
    info = json.loads(runtime.read_text())
    runtime.write_text(json.dumps({**info, "pid": os.getppid()}))  # a process that is alive
    key_before = (settings.data_dir / KEY_FILE).read_text()
    status = secrets_cli.main(["rotate-key", "--data-dir", str(settings.data_dir)])
    assert status == 2
    assert "quit it first" in capsys.readouterr().err
    assert (settings.data_dir / KEY_FILE).read_text() == key_before


def test_keyring_entries_are_per_data_dir(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    first, second = KeyringKeyStore(ring, tmp_path / "a"), KeyringKeyStore(ring, tmp_path / "b")
    first.save(["k1"])
    assert second.load() is None
    assert first.load() == ["k1"]
