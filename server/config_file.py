"""Changing one top-level key of ``config.toml`` in place, keeping the rest of the file as it is.

The window writes settings that apply at the next start (such as ``web_root``) here. The key's
line is replaced, removed or added; comments and the other keys stay untouched. Should the file
be laid out so that a line edit cannot do it (a multi-line value), it is rewritten from its
parsed contents instead, which keeps every value but drops comments. Either way the result is
parsed back and checked before it replaces the file, atomically.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
import tomllib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TABLE_HEADER = re.compile(r"^\s*\[")


class ConfigFileError(Exception):
    """The config file could not be read or written; the message says why, for the operator."""


def set_config_value(path: Path, key: str, value: Any | None) -> None:
    """Set top-level ``key`` to ``value`` in the TOML file at ``path`` (``None`` removes it).

    Blocking (file I/O): call it from a worker thread when on the loop.
    """
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise ConfigFileError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    try:
        current = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path} is not valid TOML ({exc}); fix or remove it first") from exc
    expected = dict(current)
    if value is None:
        expected.pop(key, None)
    else:
        expected[key] = value
    new_text = _edit_line(text, key, value)
    try:
        unchanged_elsewhere = tomllib.loads(new_text) == expected
    except tomllib.TOMLDecodeError:
        unchanged_elsewhere = False
    if not unchanged_elsewhere:
        new_text = dumps(expected)
    _write_atomically(path, new_text)


def _edit_line(text: str, key: str, value: Any | None) -> str:
    """``text`` with ``key``'s top-level line replaced, removed or added."""
    lines = text.splitlines(keepends=True)
    assignment = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    new_line = None if value is None else f"{_key(key)} = {_value(value)}\n"
    first_table = next((i for i, line in enumerate(lines) if _TABLE_HEADER.match(line)), len(lines))
    for i in range(first_table):
        if assignment.match(lines[i]):
            lines[i : i + 1] = [] if new_line is None else [new_line]
            return "".join(lines)
    if new_line is None:
        return text
    if first_table == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.insert(first_table, new_line)
    return "".join(lines)


def dumps(document: dict[str, Any]) -> str:
    """A minimal TOML writer: top-level keys, nested tables written inline."""
    return "".join(f"{_key(key)} = {_value(value)}\n" for key, value in document.items())


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, os.PathLike):
        return _string(os.fspath(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    """A TOML basic string."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step; a new file is private (it may hold secrets)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as exc:
        raise ConfigFileError(f"Cannot write {path}: {exc.strerror or exc}") from exc
