"""Small secrets the backend generates for itself, kept in owner-only (0600) files in the data dir."""

from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)


def write_private(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by the owner only, replacing any old file atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_or_create(path: Path, generate: int = 32) -> tuple[str, bool]:
    """Read the secret in ``path``, creating a random one first if there is none.

    Returns the value and whether it was created now.
    """
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value, False
        log.warning("%s is empty; generating a new value", path)
    value = secrets.token_urlsafe(generate)
    write_private(path, value)
    return value, True
