"""The embedded vector store in a child process of its own.

chromadb's native core holds Python's global lock through long calls: storing 100 vectors of 768
dimensions took ~0.3 s, during which the window's event loop could not run (the loop-lag p99 while
ingesting a feed was 180 ms with the store in a thread). In a child process it cannot stall the
loop: the parent only pickles a request and its answer and waits on a pipe, which releases the lock.
It also keeps chromadb (~100 MB, imported on first use) out of the window's process.

``ProcessVectorStore`` has the blocking interface of ``VectorStore`` (the semantic service calls it
through ``asyncio.to_thread``). If the child dies, the next call starts a new one.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.services.errors import DependencyDown
from server.services.semantic_store import dimension_conflict

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (the service errors do), else a RuntimeError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001  (any exception type chromadb may raise)
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def serve(conn: Connection, path: str | None, url: str | None) -> None:
    """The child: one VectorStore, answering (method, args, kwargs) requests until told to stop."""
    from server.services.semantic_store import VectorStore

    store = VectorStore(path=Path(path) if path else None, url=url)
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            break  # the parent went away
        try:
            reply: tuple[bool, Any] = (True, getattr(store, name)(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001  (every failure goes back to the caller)
            reply = (False, _portable(exc))
        try:
            conn.send(reply)
        except (OSError, pickle.PicklingError) as exc:
            conn.send((False, RuntimeError(f"the vector store could not send its answer: {exc}")))
        if name == "close":
            break
    store.close()


class ProcessVectorStore:
    """``VectorStore``'s interface, served by a child process; every method blocks (use a thread)."""

    def __init__(self, *, path: Path | None = None, url: str | None = None) -> None:
        self.path = path
        self.url = url
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._lock = threading.Lock()
        self._known: tuple[int, str | None] | None = None
        self._wanted_open = False

    @property
    def location(self) -> str:
        """Where the vectors live, for messages."""
        return self.url or str(self.path)

    @property
    def known_dimension(self) -> tuple[int, str | None] | None:
        """The dimension and model once read (no call to the child); ``None`` before."""
        return self._known

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def open(self) -> None:
        """Start the child and open the store in it."""
        with self._lock:
            self._wanted_open = True
            self._start()

    def _start(self) -> None:
        # spawn, not fork: the parent runs threads (Qt, aiosqlite), which fork does not survive.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=serve,
            args=(child, str(self.path) if self.path else None, self.url),
            name="agentic-vector-store",
            daemon=True,
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process
        try:
            self._exchange("open", (), {})
        except BaseException:
            self._discard()
            raise
        log.info("Vector store process %s serves %s", process.pid, self.location)

    def _exchange(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        assert self._conn is not None
        try:
            self._conn.send((name, args, kwargs))
            ok, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            code = self._process.exitcode if self._process is not None else None
            self._discard()
            raise DependencyDown(
                f"The vector store process stopped (exit code {code}) during {name}; "
                "it starts again on the next call"
            ) from exc
        if not ok:
            raise value
        return value

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(STOP_TIMEOUT)
        self._conn, self._process = None, None

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._conn is None:
                if not self._wanted_open:
                    raise DependencyDown("The vector store is not open")
                self._start()  # the child died: a new one
            return self._exchange(name, args, kwargs)

    def close(self) -> None:
        """Close the store and end the child."""
        with self._lock:
            self._wanted_open = False
            self._known = None
            if self._conn is None:
                return
            try:
                self._exchange("close", (), {})
            except Exception:
                log.debug("Vector store child did not close cleanly", exc_info=True)
            if self._process is not None:
                self._process.join(STOP_TIMEOUT)
            self._discard()

    # -- VectorStore's methods --

    def dimension(self) -> tuple[int | None, str | None]:
        dimension, model = self._call("dimension")
        if dimension is not None:
            self._known = (dimension, model)
        return dimension, model

    def check_dimension(self, dimension: int, model: str, *, store: bool) -> None:
        if self._known is not None:  # fixed once set: no round trip to the child per query
            stored, stored_model = self._known
            if stored != dimension:
                raise dimension_conflict(self.location, model, dimension, stored, stored_model)
            return
        self._call("check_dimension", dimension, model, store=store)

    def count(self) -> int:
        return int(self._call("count"))

    def replace(self, *args: Any) -> None:
        self._call("replace", *args)

    def remove(self, item_ids: Any) -> None:
        self._call("remove", item_ids)

    def query(self, vector: Any, n: int, where: Any) -> Any:
        return self._call("query", vector, n, where)

    def items(self, item_ids: Any) -> Any:
        return self._call("items", item_ids)
