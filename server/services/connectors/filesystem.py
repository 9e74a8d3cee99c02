"""The filesystem connector: the files of a local folder that match glob patterns, changed ones only.

A file counts as changed when its size or mtime moved *and* its SHA-256 differs from the last run
(``state["files"][path] = [size, mtime_ns, sha256]``), so a touched but identical file is not
re-ingested. The scan and every read run in a thread: a big folder never stalls the loop. A file
that cannot be read is one failure entry, never the end of the run.
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import hashlib
import mimetypes
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, field_validator

from server.services.connectors._common import ConfigModel, SourceRefused, check_config, iso, now
from server.services.connectors.base import FetchedItem, FetchResult

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

from datetime import UTC, datetime

MAX_FILE_SIZE = 20 * 1024 * 1024


class FilesystemConfig(ConfigModel):
    """A folder to watch."""

    directory: str = Field(
        validation_alias=AliasChoices("directory", "path"),
        min_length=1,
        max_length=4096,
        description="Absolute path of the folder (``~`` is expanded)",
    )
    file_patterns: list[str] = Field(
        default_factory=lambda: ["*"],
        validation_alias=AliasChoices("file_patterns", "patterns", "glob"),
        min_length=1,
        max_length=50,
        description="Glob patterns matched against each file's name and its path inside the folder",
    )
    recursive: bool = Field(False, description="Look into sub-folders too")
    max_file_size: int = Field(MAX_FILE_SIZE, ge=1, le=100 * 1024 * 1024, description="Larger files fail")
    max_files: int = Field(1000, ge=1, le=100_000, description="At most this many changed files a run")
    include_hidden: bool = Field(False, description="Also files and folders whose name starts with '.'")

    @field_validator("directory")
    @classmethod
    def _absolute(cls, value: str) -> str:
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise ValueError("give an absolute path to the folder")
        return str(path)

    @field_validator("file_patterns", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("file_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or "\x00" in pattern or pattern.startswith("/") or ".." in Path(pattern).parts:
                raise ValueError(f"'{pattern}' is not a pattern inside the folder")
        return value


class FilesystemConnector:
    """Files of a local folder."""

    kind = "filesystem"

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return check_config(FilesystemConfig, config)

    async def test(self, config: Mapping[str, Any]) -> str:
        cfg = FilesystemConfig.model_validate(self.validate(config))
        matches = await asyncio.to_thread(lambda: sum(1 for _ in _walk(cfg)))
        return f"{cfg.directory}: {matches} matching file(s)"

    async def fetch_new(self, config: Mapping[str, Any], state: dict[str, Any]) -> FetchResult:
        cfg = FilesystemConfig.model_validate(self.validate(config))
        return await asyncio.to_thread(_fetch, cfg, state)


def _check_directory(cfg: FilesystemConfig) -> Path:
    root = Path(cfg.directory)
    if not root.exists():
        raise SourceRefused(f"{root} does not exist")
    if not root.is_dir():
        raise SourceRefused(f"{root} is not a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        raise SourceRefused(f"{root} cannot be read (permission denied)")
    return root


def _matches(cfg: FilesystemConfig, relative: str, name: str) -> bool:
    return any(
        fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relative, pattern) for pattern in cfg.file_patterns
    )


def _walk(cfg: FilesystemConfig) -> Iterator[tuple[Path, os.stat_result | OSError]]:
    """Matching regular files with their stat, or why they cannot be read (links to directories are
    not followed, so a link loop cannot trap the walk)."""
    root = _check_directory(cfg)
    errors: list[OSError] = []
    for folder, dirs, files in os.walk(root, onerror=errors.append):
        dirs.sort()
        if not cfg.include_hidden:
            dirs[:] = [name for name in dirs if not name.startswith(".")]
        if not cfg.recursive:
            dirs.clear()
        for name in sorted(files):
            if not cfg.include_hidden and name.startswith("."):
                continue
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if not _matches(cfg, relative, name):
                continue
            try:
                info = path.stat()  # a link to a file counts as that file
            except FileNotFoundError:
                target = os.readlink(path) if path.is_symlink() else "?"
                yield path, OSError(errno.ENOENT, f"broken symbolic link to {target}")
                continue
            except OSError as exc:
                yield path, exc
                continue
            if not stat.S_ISREG(info.st_mode):
                continue  # FIFOs, sockets, devices: not content
            yield path, info
        while errors:
            error = errors.pop()
            if error.filename and Path(error.filename) != root:
                yield Path(error.filename), error


def _fetch(cfg: FilesystemConfig, state: dict[str, Any]) -> FetchResult:
    """The run itself, in a thread."""
    result = FetchResult()
    known: dict[str, list[Any]] = state.setdefault("files", {})
    present: set[str] = set()
    for path, info in _walk(cfg):
        ref = str(path)
        present.add(ref)
        if isinstance(info, OSError):
            result.failures.append((ref, f"cannot be read: {info.strerror or info}"))
            continue
        previous = known.get(ref)
        if previous is not None and previous[0] == info.st_size and previous[1] == info.st_mtime_ns:
            result.unchanged += 1
            continue
        if info.st_size > cfg.max_file_size:
            result.failures.append((ref, f"{info.st_size} bytes is over the limit of {cfg.max_file_size}"))
            continue
        if len(result.items) >= cfg.max_files:
            continue  # left for the next run: its state entry is not updated
        try:
            body = path.read_bytes()
        except OSError as exc:
            result.failures.append((ref, f"cannot be read: {exc.strerror or exc}"))
            continue
        digest = hashlib.sha256(body).hexdigest()
        known[ref] = [info.st_size, info.st_mtime_ns, digest]
        if previous is not None and previous[2] == digest:
            result.unchanged += 1  # touched, same bytes
            continue
        mime, _ = mimetypes.guess_type(path.name)
        result.items.append(
            FetchedItem(
                ref=ref,
                body=body,
                fetched_at=now(),
                title=path.name,
                url=path.as_uri(),
                mime_type=mime,
                metadata={
                    "path": ref,
                    "relative_path": path.relative_to(cfg.directory).as_posix(),
                    "size": info.st_size,
                    "modified": iso(datetime.fromtimestamp(info.st_mtime, UTC)),
                    "sha256": digest,
                },
            )
        )
    for gone in known.keys() - present:  # deleted or no longer matching: forget them
        del known[gone]
    return result
