"""``runtime.json`` in the data dir: where a running instance serves, for scripts and tests."""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import TYPE_CHECKING

from server.services.keyfiles import write_private

if TYPE_CHECKING:
    from pathlib import Path

RUNTIME_FILE = "runtime.json"


def write_runtime(data_dir: Path, *, url: str, mode: str) -> Path:
    """Record this process's API URL; removed again by ``clear_runtime``."""
    path = data_dir / RUNTIME_FILE
    write_private(path, json.dumps({"pid": os.getpid(), "url": url, "mode": mode}))
    return path


def clear_runtime(data_dir: Path) -> None:
    """Remove this process's runtime file (another process's file is left alone)."""
    path = data_dir / RUNTIME_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def freeze_startup_objects() -> None:
    """Exempt everything alive after start-up from garbage collection (``gc.freeze``).

    Modules, models and Qt wrappers live as long as the process; leaving them out of the
    collector's scans keeps full collections short, and so the loop responsive.
    """
    gc.collect()
    gc.freeze()


# How long a thread may hold the GIL before another is let in (Python's default is 5 ms).
SWITCH_INTERVAL = 0.001


def tune_interpreter() -> None:
    """Hand the GIL over sooner than Python's default.

    Every database call goes through aiosqlite's thread (and logging through its writer thread);
    with a 5 ms switch interval the loop waited up to 5 ms for each answer, which put a single
    ``SELECT 1`` at 14 ms p99. At 1 ms the same query is 2.5 ms p99, at a small cost in throughput.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)


def running_instance(data_dir: Path) -> dict[str, object] | None:
    """What ``runtime.json`` says about an instance serving from ``data_dir``, if its process lives."""
    import psutil

    try:
        info = json.loads((data_dir / RUNTIME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = info.get("pid") if isinstance(info, dict) else None
    if not isinstance(pid, int) or pid == os.getpid() or not psutil.pid_exists(pid):
        return None
    return info
