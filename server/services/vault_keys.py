"""Where the secrets vault keeps its master keys: the OS keyring, or a 0600 file in the data dir.

The stored value is a JSON list of Fernet keys, newest first (several only while a rotation is
under way). Every call may block (a keyring talks to D-Bus or the OS), so callers run them in a
thread.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from server.services.keyfiles import write_private

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

KEYRING_SERVICE = "agentic-desktop"
KEY_FILE = "vault-master-key"


class KeyStoreError(RuntimeError):
    """The master key could not be read or written; the message says where and why."""


class KeyStore(Protocol):
    """A place that holds the master keys."""

    kind: Literal["keyring", "file"]

    @property
    def location(self) -> str:
        """Where the keys are, in words for the operator."""
        ...

    def load(self) -> list[str] | None:
        """The keys, newest first; ``None`` when none were ever stored here."""
        ...

    def save(self, keys: list[str]) -> None:
        """Replace the keys."""
        ...


def _parse(raw: str, where: str) -> list[str]:
    try:
        keys = json.loads(raw)
    except ValueError:
        keys = None
    if not isinstance(keys, list) or not keys or not all(isinstance(key, str) for key in keys):
        raise KeyStoreError(f"The vault master key in {where} is damaged (not a list of Fernet keys)")
    return keys


@dataclass
class FileKeyStore:
    """Keys in a file readable by the owner only."""

    path: Path
    kind: Literal["keyring", "file"] = "file"

    @property
    def location(self) -> str:
        return f"the file {self.path}"

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> list[str] | None:
        try:
            raw = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyStoreError(f"Cannot read the vault master key from {self.path}: {exc.strerror}") from exc
        return _parse(raw, self.location)

    def save(self, keys: list[str]) -> None:
        try:
            write_private(self.path, json.dumps(keys))
        except OSError as exc:
            raise KeyStoreError(f"Cannot write the vault master key to {self.path}: {exc.strerror}") from exc


@dataclass
class KeyringKeyStore:
    """Keys in the OS keyring (Secret Service, macOS Keychain, Windows Credential Locker).

    The entry's user name carries the data dir, so two data dirs on one machine do not share keys."""

    backend: Any
    data_dir: Path
    kind: Literal["keyring", "file"] = "keyring"

    @property
    def username(self) -> str:
        return f"vault-master-key:{self.data_dir}"

    @property
    def location(self) -> str:
        name = type(self.backend).__name__
        return f"the OS keyring ({name}, service '{KEYRING_SERVICE}', entry '{self.username}')"

    def load(self) -> list[str] | None:
        try:
            raw = self.backend.get_password(KEYRING_SERVICE, self.username)
        except Exception as exc:
            raise KeyStoreError(f"Cannot read the vault master key from {self.location}: {exc}") from exc
        return None if raw is None else _parse(raw, self.location)

    def save(self, keys: list[str]) -> None:
        try:
            self.backend.set_password(KEYRING_SERVICE, self.username, json.dumps(keys))
        except Exception as exc:
            raise KeyStoreError(f"Cannot write the vault master key to {self.location}: {exc}") from exc


def usable_keyring() -> tuple[Any | None, str]:
    """The OS keyring backend, or ``None`` and why there is none."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        return None, f"the keyring package cannot be imported ({exc})"
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None, "no OS keyring backend is available (no Secret Service, Keychain or Credential Locker)"
    chained = getattr(backend, "backends", None)
    if chained is not None and not chained:
        return None, "no OS keyring backend is available"
    return backend, ""


def choose_store(setting: Literal["auto", "keyring", "file"], data_dir: Path) -> tuple[KeyStore, str]:
    """The key store ``setting`` asks for, and a note on why (for the log and Settings).

    ``auto`` keeps using a key file that already exists (moving to the keyring by itself would make
    every secret unreadable), else uses the keyring where there is one, else a new key file."""
    file_store = FileKeyStore(data_dir / KEY_FILE)
    if setting == "file":
        return file_store, "AGENTIC_VAULT_BACKEND=file"
    if setting == "auto" and file_store.exists():
        return file_store, f"a key file already exists in {data_dir}"
    backend, why_not = usable_keyring()
    if backend is not None:
        return KeyringKeyStore(backend, data_dir), "an OS keyring is available"
    if setting == "keyring":
        raise KeyStoreError(f"AGENTIC_VAULT_BACKEND=keyring, but {why_not}")
    return file_store, f"{why_not}; using a 0600 key file instead"
