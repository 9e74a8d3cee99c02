"""The vector store: one chromadb collection, embedded in the data dir or on a Chroma server.

chromadb is synchronous and large: this module imports it only inside ``VectorStore.open``, and the
semantic service calls every method here through ``asyncio.to_thread``. The collection is made
without an embedding function (``embedding_function=None``): the app always passes its own vectors,
so chromadb's default model (onnxruntime + a downloaded MiniLM) is never loaded or fetched.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from server.services.errors import Conflict, DependencyDown, InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

log = logging.getLogger(__name__)

COLLECTION = "content"
# Collection metadata: which model made the vectors and how long they are.
MODEL_KEY = "embedding_model"
DIMENSION_KEY = "dimension"


@dataclass(frozen=True, slots=True)
class Hit:
    """One stored chunk a query found."""

    id: str
    score: float  # cosine similarity
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored chunk with its vector."""

    id: str
    text: str
    metadata: dict[str, Any]
    vector: list[float]


def dimension_conflict(
    location: str, model: str, dimension: int, stored: int, stored_model: str | None
) -> Conflict:
    """The error for vectors of another length than those stored: the embedding model changed."""
    return Conflict(
        f"The embedding model {model} makes {dimension}-dimension vectors, but the store at "
        f"{location} holds {stored}-dimension vectors (made with {stored_model}): set "
        f"AGENTIC_EMBEDDING_MODEL back to {stored_model}, or clear the store and index again"
    )


class VectorStore:
    """Thread-safe access to the collection; every method blocks (call it from a thread)."""

    def __init__(self, *, path: Path | None = None, url: str | None = None) -> None:
        self.path = path
        self.url = url
        self._client: Any = None
        self._collection: Any = None
        self._lock = threading.Lock()
        self._known: tuple[int, str | None] | None = None

    @property
    def location(self) -> str:
        """Where the vectors live, for messages."""
        return self.url or str(self.path)

    def open(self) -> None:
        """Connect (or create the embedded store) and get the collection."""
        import chromadb  # large; only when semantic features are first used
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if self.url:
                parts = urlsplit(self.url)
                client = chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1",
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=settings,
                )
            else:
                assert self.path is not None
                self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            collection = client.get_or_create_collection(
                COLLECTION,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as exc:
            if self.url:
                raise DependencyDown(
                    f"The Chroma server at {self.url} is not reachable ({exc}): start it or unset "
                    "AGENTIC_CHROMA_URL to use the embedded store"
                ) from exc
            raise
        self._client, self._collection = client, collection
        log.info("Vector store: %s (%d chunks)", self.location, collection.count())

    def close(self) -> None:
        """Release the client (the embedded store's files are closed when its last client goes)."""
        client, self._client, self._collection, self._known = self._client, None, None, None
        if client is not None:
            client.close()
            # WORKAROUND: chromadb's HTTP client never closes its httpx session (client.close() only
            # releases the shared System), nor does its internal admin client: their sockets leak.
            for owner in (client, getattr(client, "_admin_client", None)):
                session = getattr(getattr(owner, "_server", None), "_session", None)
                if session is not None:
                    session.close()

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a chromadb call; a Chroma server that stopped answering is a dependency down."""
        try:
            return call(*args, **kwargs)
        except (ValueError, TypeError) as exc:  # chromadb's InvalidArgumentError is a ValueError
            raise InvalidInput(f"Chroma refused {what}: {exc}") from exc
        except Exception as exc:
            if type(exc).__name__ == "InvalidArgumentError":  # chromadb.errors: a bad filter, id or vector
                raise InvalidInput(f"Chroma refused {what}: {exc}") from exc
            if self.url and type(exc).__module__.startswith(("httpx", "httpcore")):
                raise DependencyDown(f"The Chroma server at {self.url} did not answer {what}: {exc}") from exc
            raise

    # -- what the store holds --

    @property
    def known_dimension(self) -> tuple[int, str | None] | None:
        """The dimension and model once read (no call to chromadb); ``None`` before."""
        return self._known

    def dimension(self) -> tuple[int | None, str | None]:
        """The vectors' dimension and model, once anything was stored."""
        if self._known is not None:
            return self._known
        collection = self._call(
            "the collection lookup", self._client.get_collection, COLLECTION, embedding_function=None
        )
        metadata = collection.metadata or {}
        dimension = metadata.get(DIMENSION_KEY)
        if dimension is None:
            return None, None
        # Fixed once set (until the store is cleared), so it is read once.
        self._known = (int(dimension), metadata.get(MODEL_KEY))
        return self._known

    def check_dimension(self, dimension: int, model: str, *, store: bool) -> None:
        """Refuse vectors of another length than those stored (the embedding model changed).

        With ``store`` the first vectors fix the dimension for the collection.
        """
        stored, stored_model = self.dimension()
        if stored is None:
            if store:
                with self._lock:
                    self._call(
                        "the collection update",
                        self._collection.modify,
                        metadata={DIMENSION_KEY: dimension, MODEL_KEY: model},
                    )
            return
        if stored != dimension:
            raise dimension_conflict(self.location, model, dimension, stored, stored_model)

    def count(self) -> int:
        """Stored chunks."""
        return int(self._call("the count", self._collection.count))

    # -- writing --

    def replace(
        self,
        item_ids: Sequence[str],
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Forget the chunks of ``item_ids`` and store these instead."""
        with self._lock:
            self._delete_items(item_ids)
            batch = max(1, int(self._client.get_max_batch_size()))
            for start in range(0, len(ids), batch):
                end = start + batch
                self._call(
                    "the upsert",
                    self._collection.upsert,
                    ids=list(ids[start:end]),
                    embeddings=[list(vector) for vector in vectors[start:end]],
                    documents=list(texts[start:end]),
                    metadatas=[dict(metadata) for metadata in metadatas[start:end]],
                )

    def remove(self, item_ids: Sequence[str]) -> None:
        """Forget every chunk of these items."""
        with self._lock:
            self._delete_items(item_ids)

    def _delete_items(self, item_ids: Sequence[str]) -> None:
        if item_ids:
            self._call("the delete", self._collection.delete, where={"item_id": {"$in": list(item_ids)}})

    # -- reading --

    def query(self, vector: Sequence[float], n: int, where: Mapping[str, Any] | None) -> list[Hit]:
        """The ``n`` chunks nearest to ``vector`` (cosine), best first, among those ``where`` matches."""
        result = self._call(
            "the query",
            self._collection.query,
            query_embeddings=[list(vector)],
            n_results=n,
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        ids, distances = result["ids"][0], result["distances"][0]
        documents, metadatas = result["documents"][0], result["metadatas"][0]
        return [
            Hit(id=id_, score=1.0 - float(distance), text=document or "", metadata=dict(metadata or {}))
            for id_, distance, document, metadata in zip(ids, distances, documents, metadatas, strict=True)
        ]

    def items(self, item_ids: Sequence[str]) -> list[Stored]:
        """Every stored chunk of these items, with vectors, in chunk order."""
        result = self._call(
            "the lookup",
            self._collection.get,
            where={"item_id": {"$in": list(item_ids)}},
            include=["documents", "metadatas", "embeddings"],
        )
        stored = [
            Stored(
                id=id_, text=document or "", metadata=dict(metadata or {}), vector=[float(v) for v in vector]
            )
            for id_, document, metadata, vector in zip(
                result["ids"], result["documents"], result["metadatas"], result["embeddings"], strict=True
            )
        ]
        return sorted(
            stored, key=lambda chunk: (str(chunk.metadata.get("item_id")), chunk.metadata.get("chunk", 0))
        )
