"""Semantic search and understanding over stored content: embeddings, chunks, clusters, graphs.

Vectors come from Ollama's ``/api/embed`` through the gateway (batched) and live in chromadb
(``semantic_store``); the math runs in numpy (``semantic_math``) in a thread. Entities, relations and
model-based classification (``semantic_understanding``) ask a chat model for JSON that matches a
schema, and validate it. Nothing
here invents a vector or an answer: with Ollama down, every call that needs it fails with
``DependencyDown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import time
from typing import TYPE_CHECKING, Any

from server.services.errors import DependencyDown, FieldError, InvalidInput, NotFound
from server.services.semantic_models import (
    Breakpoint,
    Chunking,
    ChunkStrategy,
    ClusterInfo,
    Clusters,
    DuplicatePair,
    Duplicates,
    Embedded,
    Quality,
    QualityFactor,
    SearchHit,
    SearchResults,
    TextChunk,
    TriedK,
)
from server.services.semantic_types import IndexDoc
from server.services.semantic_understanding import UnderstandingMixin, elapsed_ms

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from server.services.llm import Embeddings
    from server.services.semantic_store import Stored, VectorStore

log = logging.getLogger(__name__)

SNIPPET_CHARS = 400
EMBED_PARALLEL = 4  # embedding requests in flight at once for one call


def text_hash(text: str) -> str:
    """The hash exact duplicates share: case and runs of whitespace do not count."""
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


def snippet(text: str, query: str | None) -> str:
    """Up to ``SNIPPET_CHARS`` of a chunk: around the first word of the query it contains, else its start."""
    if len(text) <= SNIPPET_CHARS:
        return text
    lowered = text.lower()
    words = [word for word in re.findall(r"\w{3,}", (query or "").lower())]
    found = [position for position in (lowered.find(word) for word in words) if position >= 0]
    start = max(0, min(found) - SNIPPET_CHARS // 4) if found else 0
    start = min(start, len(text) - SNIPPET_CHARS)
    return (
        ("…" if start else "")
        + text[start : start + SNIPPET_CHARS]
        + ("…" if start + SNIPPET_CHARS < len(text) else "")
    )


def _stitch(chunks: Sequence[Stored]) -> str:
    """An item's text again from its overlapping chunks."""
    text, end = "", None
    for chunk in chunks:
        start = int(chunk.metadata.get("start", 0))
        if end is None:
            text = chunk.text
        elif start < end:
            text += chunk.text[end - start :]
        else:
            text += " " + chunk.text
        end = int(chunk.metadata.get("end", start + len(chunk.text)))
    return text


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


class SemanticService(UnderstandingMixin):
    """Embeds and indexes content, searches it, and answers the semantic analysis endpoints."""

    def __init__(
        self,
        llm: Any,
        store: VectorStore,
        *,
        embedding_model: str,
        batch_size: int,
        chunk_size: int,
        chunk_overlap: int,
        default_model: Callable[[], Awaitable[str | None]],
        get_item: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        self._llm = llm
        self.store = store
        self.embedding_model = embedding_model
        self._batch_size = batch_size
        self.chunk_size = chunk_size
        self.chunk_overlap = min(chunk_overlap, chunk_size // 2)
        self._default_model = default_model
        self.get_item = get_item
        self._opened = False
        self._open_lock = asyncio.Lock()

    # -- the store --

    async def _ready(self) -> VectorStore:
        """The store, opened on first use (chromadb is imported then, in a thread)."""
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    await asyncio.to_thread(self.store.open)
                    self._opened = True
        return self.store

    async def close(self) -> None:
        """Release the store."""
        if self._opened:
            self._opened = False
            await asyncio.to_thread(self.store.close)

    # -- embeddings --

    async def _embed(
        self, texts: Sequence[str], model: str | None = None
    ) -> tuple[list[list[float]], str, int]:
        """Vectors for ``texts`` in batches; the model's full name and the tokens it read."""
        name = model or self.embedding_model
        # A few batches at once: Ollama embeds requests in parallel, and the router spreads them
        # over the hosts that have the model. Order is kept by gathering in order.
        gate = asyncio.Semaphore(EMBED_PARALLEL)

        async def one(batch: Sequence[str]) -> Embeddings:
            async with gate:
                result = await self._llm.embeddings(name, batch, purpose="embedding")
            if len(result.vectors) != len(batch):
                raise DependencyDown(f"Ollama returned {len(result.vectors)} vectors for {len(batch)} texts")
            return result

        try:
            async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                tasks = [
                    group.create_task(one(texts[start : start + self._batch_size]))
                    for start in range(0, len(texts), self._batch_size)
                ]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        results = [task.result() for task in tasks]
        vectors = [vector for result in results for vector in result.vectors]
        tokens = sum(result.prompt_tokens for result in results)
        return vectors, results[-1].model if results else name, tokens

    async def embed(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        store: bool = False,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
    ) -> Embedded:
        """Vectors for ``texts``; with ``store``, also index them under ``ids``."""
        if store and model and model.split(":")[0] != self.embedding_model.split(":")[0]:
            raise InvalidInput(
                f"Stored vectors must come from the search model {self.embedding_model}; leave out model"
            )
        vectors, used, tokens = await self._embed(texts, model)
        stored = 0
        if store:
            assert ids is not None
            docs = [
                IndexDoc(id=id_, text=text, metadata=dict(metadatas[n]) if metadatas else {})
                for n, (id_, text) in enumerate(zip(ids, texts, strict=True))
            ]
            await self._index(docs, whole=dict(zip(texts, vectors, strict=True)))
            stored = len(docs)
        return Embedded(
            model=used,
            dimension=len(vectors[0]) if vectors else 0,
            embeddings=vectors,
            prompt_tokens=tokens,
            stored=stored,
        )

    # -- the index (ContentIndex) --

    async def index(self, docs: Sequence[IndexDoc]) -> None:
        """Embed and store ``docs``; long texts as chunks ``<id>#<n>``, each naming its item."""
        await self._index(docs)

    async def _index(self, docs: Sequence[IndexDoc], whole: Mapping[str, list[float]] | None = None) -> None:
        from server.services import semantic_math  # numpy, on first use

        def split() -> list[tuple[str, str, str, dict[str, Any]]]:
            pieces = []
            for doc in docs:
                base = {
                    key: value
                    for key, value in doc.metadata.items()
                    if isinstance(value, str | int | float | bool)
                }
                if len(doc.text) <= self.chunk_size:
                    offsets = [(0, len(doc.text))] if doc.text.strip() else []
                else:
                    offsets = semantic_math.group_sentences(
                        doc.text, semantic_math.sentence_spans(doc.text), self.chunk_size, self.chunk_overlap
                    )
                for n, (start, end) in enumerate(offsets):
                    chunk_id = doc.id if len(offsets) == 1 else f"{doc.id}#{n}"
                    meta = {**base, "item_id": doc.id, "chunk": n, "start": start, "end": end}
                    pieces.append((doc.id, chunk_id, doc.text[start:end], meta))
            return pieces

        pieces = await asyncio.to_thread(split)
        texts = [piece[2] for piece in pieces]
        known = whole or {}
        missing = [text for text in texts if text not in known]
        vectors_missing, model, _ = await self._embed(missing) if missing else ([], self.embedding_model, 0)
        found = dict(zip(missing, vectors_missing, strict=True))
        vectors = [known.get(text) or found[text] for text in texts]
        store = await self._ready()
        if vectors:
            await asyncio.to_thread(store.check_dimension, len(vectors[0]), model, store=True)
        await asyncio.to_thread(
            store.replace,
            [doc.id for doc in docs],
            [piece[1] for piece in pieces],
            vectors,
            texts,
            [piece[3] for piece in pieces],
        )

    async def remove(self, item_ids: Sequence[str]) -> None:
        """Forget these items."""
        store = await self._ready()
        await asyncio.to_thread(store.remove, list(item_ids))

    # -- search --

    async def search(
        self,
        *,
        query: str | None = None,
        vector: Sequence[float] | None = None,
        top_k: int = 10,
        where: Mapping[str, Any] | None = None,
        min_score: float | None = None,
    ) -> SearchResults:
        """The ``top_k`` items nearest to the query text or vector, best chunk per item."""
        started = time.perf_counter()
        model = None
        if vector is None:
            assert query is not None
            vectors, model, _ = await self._embed([query])
            vector = vectors[0]
        store = await self._ready()
        known = store.known_dimension  # read once, then without a thread hop per query
        dimension, _ = known if known is not None else await asyncio.to_thread(store.dimension)
        if dimension is None:
            return SearchResults(results=[], total=0, model=model, processing_time_ms=elapsed_ms(started))
        if model is not None:
            await asyncio.to_thread(store.check_dimension, len(vector), model, store=False)
        elif len(vector) != dimension:
            raise FieldError(
                ("vector",), f"The vector has {len(vector)} dimensions; the stored vectors have {dimension}"
            )
        best: dict[str, SearchHit] = {}
        wanted = top_k * 2
        for _ in range(4):  # chunks of one item may crowd others out: ask for more until enough items
            hits = await asyncio.to_thread(store.query, vector, wanted, where)
            for hit in hits:
                item_id = str(hit.metadata.get("item_id", hit.id))
                if item_id not in best or hit.score > best[item_id].score:
                    text = snippet(hit.text, query)
                    best[item_id] = SearchHit(
                        id=hit.id,
                        item_id=item_id,
                        score=round(hit.score, 6),
                        text=text,
                        metadata=hit.metadata,
                    )
            if len(best) >= top_k or len(hits) < wanted:
                break
            wanted *= 4
        results = sorted(best.values(), key=lambda hit: -hit.score)
        if min_score is not None:
            results = [hit for hit in results if hit.score >= min_score]
        results = results[:top_k]
        return SearchResults(
            results=results, total=len(results), model=model, processing_time_ms=elapsed_ms(started)
        )

    # -- chunking --

    async def chunk(
        self,
        text: str,
        *,
        strategy: ChunkStrategy,
        chunk_size: int,
        overlap: int,
        threshold: float | None = None,
    ) -> Chunking:
        """Split ``text`` by characters, by sentences, or by sentences where the topic changes."""
        from server.services import semantic_math as sm

        if overlap >= chunk_size:
            raise FieldError(
                ("overlap",), f"overlap ({overlap}) must be smaller than chunk_size ({chunk_size})"
            )
        breakpoints: list[Breakpoint] = []
        if strategy == "fixed-size":
            offsets = await asyncio.to_thread(sm.fixed_spans, text, chunk_size, overlap)
        else:
            spans = await asyncio.to_thread(sm.sentence_spans, text)
            breaks: frozenset[int] = frozenset()
            if strategy == "semantic" and len(spans) > 1:
                vectors, _, _ = await self._embed([text[start:end] for start, end in spans])
                similarities = await asyncio.to_thread(sm.adjacent_similarity, sm.matrix(vectors))
                if threshold is None:
                    mean = sum(similarities) / len(similarities)
                    spread = math.sqrt(sum((s - mean) ** 2 for s in similarities) / len(similarities))
                    threshold = mean - spread
                breaks = frozenset(
                    n + 1 for n, similarity in enumerate(similarities) if similarity < threshold
                )
                breakpoints = [
                    Breakpoint(offset=spans[n][0], similarity=round(similarities[n - 1], 6))
                    for n in sorted(breaks)
                ]
            offsets = await asyncio.to_thread(sm.group_sentences, text, spans, chunk_size, overlap, breaks)
        chunks = [
            TextChunk(index=span.index, text=span.text, start=span.start, end=span.end)
            for span in sm.as_spans(text, offsets)
        ]
        return Chunking(
            strategy=strategy,
            chunk_size=chunk_size,
            overlap=overlap,
            chunks=chunks,
            count=len(chunks),
            breakpoints=breakpoints,
            threshold=round(threshold, 6) if strategy == "semantic" and threshold is not None else None,
        )

    # -- clustering --

    async def _item_vectors(self, item_ids: Sequence[str]) -> list[list[float]]:
        """One vector per stored item (the mean of its chunks'); 404 naming the ids not stored."""
        from server.services import semantic_math as sm

        store = await self._ready()
        chunks = await asyncio.to_thread(store.items, list(item_ids))
        by_item: dict[str, list[list[float]]] = {}
        for chunk in chunks:
            by_item.setdefault(str(chunk.metadata.get("item_id")), []).append(chunk.vector)
        missing = [item_id for item_id in item_ids if item_id not in by_item]
        if missing:
            raise NotFound(f"Not in the semantic index: {', '.join(missing[:20])}")

        def means() -> list[list[float]]:
            return [sm.matrix(by_item[item_id]).mean(0).tolist() for item_id in item_ids]

        return await asyncio.to_thread(means)

    async def cluster(
        self,
        *,
        vectors: Sequence[Sequence[float]] | None = None,
        item_ids: Sequence[str] | None = None,
        k: int | None = None,
        k_min: int = 2,
        k_max: int = 10,
        normalize: bool | None = None,
        seed: int = 0,
    ) -> Clusters:
        """k-means on the vectors (or the items' stored vectors); k given, or the best silhouette."""
        from server.services import semantic_math as sm

        started = time.perf_counter()
        if item_ids is not None:
            points, names = await self._item_vectors(item_ids), list(item_ids)
            normalize = True if normalize is None else normalize
        else:
            assert vectors is not None
            points, names = [list(vector) for vector in vectors], [str(n) for n in range(len(vectors))]
        if len({len(point) for point in points}) > 1:
            raise FieldError(("vectors",), "All vectors must have the same number of dimensions")
        count = len(points)
        if k is not None and not 2 <= k < count:
            raise FieldError(("k",), f"k must be at least 2 and less than the number of points ({count})")
        if k is None and count < 3:
            raise InvalidInput(f"Clustering needs at least 3 points; got {count}")
        if k is None and k_min > count - 1:
            raise FieldError(("k_min",), f"k_min must be less than the number of points ({count})")

        def run() -> tuple[sm.Clustering, list[sm.Clustering]]:
            rows = sm.matrix(points)
            if normalize:
                rows = sm.normalized(rows)
            if k is not None:
                single = sm.kmeans(rows, k, seed=seed)
                return single, [single]
            return sm.best_k(rows, k_min, k_max, seed=seed)

        best, tried = await asyncio.to_thread(run)
        clusters = [
            ClusterInfo(
                cluster=c,
                size=best.labels.count(c),
                members=[names[n] for n, label in enumerate(best.labels) if label == c],
            )
            for c in range(best.k)
        ]
        return Clusters(
            k=best.k,
            silhouette_score=round(best.silhouette, 6),
            labels=best.labels,
            clusters=clusters,
            tried=[
                TriedK(k=t.k, silhouette_score=round(t.silhouette, 6), inertia=round(t.inertia, 6))
                for t in tried
            ],
            processing_time_ms=elapsed_ms(started),
        )

    # -- items --

    async def _item_text(self, item_id: str) -> tuple[str | None, Any, list[Stored]]:
        """The item's text (from the content store, else stitched from its stored chunks), the
        content store's item, and its chunks in the index."""
        item = None
        if self.get_item is not None:
            with contextlib.suppress(NotFound):  # not (or no longer) in the content store
                item = await self.get_item(item_id)
        store = await self._ready()
        chunks = await asyncio.to_thread(store.items, [item_id])
        text = _field(item, "text") if item is not None else None
        if text is None and chunks:
            text = _stitch(chunks)
        return text, item, chunks

    async def quality(self, item_id: str) -> Quality:
        """How usable an item's text is, factor by factor (length, vocabulary, sentences, noise)."""
        text, item, chunks = await self._item_text(item_id)
        if text is None:
            raise NotFound(f"No content item {item_id}")
        words = re.findall(r"\w+", text.lower())
        sentences = max(1, len(re.findall(r"[.!?]+(?:\s|$)", text)))
        visible = [char for char in text if not char.isspace()]
        letters = sum(char.isalpha() for char in visible)
        diversity = len(set(words)) / len(words) if words else 0.0
        per_sentence = len(words) / sentences
        letter_share = letters / len(visible) if visible else 0.0
        factors = {
            "length": QualityFactor(
                value=len(words),
                score=round(min(1.0, len(words) / 300), 4),
                explanation=f"{len(words)} words (300 or more scores 1)",
            ),
            "vocabulary": QualityFactor(
                value=round(diversity, 4),
                score=round(min(1.0, diversity / 0.5), 4)
                if len(words) >= 20
                else round(diversity * len(words) / 20, 4),
                explanation="distinct words per word (0.5 or more scores 1; short texts score less)",
            ),
            "sentence_length": QualityFactor(
                value=round(per_sentence, 2),
                score=round(1.0 if 8 <= per_sentence <= 30 else max(0.0, 1 - abs(per_sentence - 19) / 40), 4),
                explanation="words per sentence (8 to 30 reads well)",
            ),
            "text_share": QualityFactor(
                value=round(letter_share, 4),
                score=round(min(1.0, letter_share / 0.8), 4),
                explanation="letters among visible characters (markup, numbers and symbols lower it)",
            ),
        }
        score = sum(factor.score for factor in factors.values()) / len(factors) if words else 0.0
        stored = None
        if item is not None:
            stored = _field(item, "quality_score")
            stored = _field(item, "quality") if stored is None else stored
        return Quality(
            id=item_id,
            quality_score=round(score, 4),
            factors=factors,
            indexed_chunks=len(chunks),
            stored_quality=float(stored) if isinstance(stored, int | float) else None,
        )

    async def detect_duplicates(
        self,
        *,
        content: str | None = None,
        candidate_pool: Sequence[str] = (),
        items: Sequence[tuple[str, str]] = (),
        similarity_threshold: float = 0.9,
    ) -> Duplicates:
        """Pairs that are the same text (hash, first) or nearly the same meaning (cosine threshold).

        With ``content``, only its pairs with the candidates; else every pair of candidates.
        ``candidate_pool`` names stored items (their stored vectors are used); ``items`` are given.
        """
        from server.services import semantic_math as sm

        entries: list[tuple[str, str]] = []  # id, text
        known: dict[str, list[float]] = {}
        if candidate_pool:
            known = dict(zip(candidate_pool, await self._item_vectors(candidate_pool), strict=True))
            store = await self._ready()
            chunks = await asyncio.to_thread(store.items, list(candidate_pool))
            for item_id in candidate_pool:
                entries.append(
                    (item_id, _stitch([c for c in chunks if c.metadata.get("item_id") == item_id]))
                )
        entries.extend(items)
        if content is not None:
            entries.insert(0, ("content", content))
        ids = [entry[0] for entry in entries]
        if len(set(ids)) != len(ids):
            raise InvalidInput("Candidate ids must be unique (and 'content' is the query's id)")
        pairs = [
            (a, b)
            for a in range(len(entries))
            for b in range(a + 1, len(entries))
            if content is None or a == 0
        ]
        hashes = [text_hash(text) for _, text in entries]
        found: list[DuplicatePair] = []
        exact = {(a, b) for a, b in pairs if hashes[a] == hashes[b]}
        found.extend(
            DuplicatePair(id_a=ids[a], id_b=ids[b], similarity=1.0, method="exact") for a, b in sorted(exact)
        )
        rest = [(a, b) for a, b in pairs if (a, b) not in exact]
        if rest:
            need = [n for n, entry_id in enumerate(ids) if entry_id not in known]
            fresh, _, _ = await self._embed([entries[n][1] for n in need]) if need else ([], "", 0)
            vectors = {n: known.get(ids[n]) for n in range(len(entries))} | dict(
                zip(need, fresh, strict=True)
            )
            rows = sm.matrix([vectors[n] for n in range(len(entries))])
            similarity = await asyncio.to_thread(sm.cosine, rows, rows)
            for a, b in rest:
                score = float(similarity[a, b])
                if score >= similarity_threshold:
                    found.append(
                        DuplicatePair(id_a=ids[a], id_b=ids[b], similarity=round(score, 6), method="semantic")
                    )
        found.sort(key=lambda pair: -pair.similarity)
        return Duplicates(duplicates=found, similarity_threshold=similarity_threshold, checked=len(pairs))
