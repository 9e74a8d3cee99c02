"""The content store: one item per distinct text, model operations on it, and their cache.

Items arrive inline (``POST /api/v1/content/process``) or from ingest runs (``ingest.py``); either
way the bytes decide the MIME type, the readable text is extracted off the loop, and the sha256 of
the normalised text de-duplicates: the same text is the same item. New and changed items go to the
semantic index when one is wired. Model operations (summarize, entities, sentiment, keywords,
language) go through the Ollama gateway; their results are stored with the item and kept in a
bounded LRU cache keyed by content hash, operation, model and options.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.bus import utcnow
from server.db.models.content import ContentItemRow
from server.services.content_extract import Extracted, extract
from server.services.errors import AgenticError, DependencyDown, InvalidInput, NotFound
from server.services.llm import collect
from server.services.semantic_types import IndexDoc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from server.bus import EventBus
    from server.services.semantic_types import ContentIndex

log = logging.getLogger(__name__)

Operation = Literal["summarize", "extract_entities", "sentiment", "keywords", "language"]
OPERATIONS: tuple[str, ...] = ("summarize", "extract_entities", "sentiment", "keywords", "language")
# The model reads at most this much of an item; longer texts are cut (and the result says so).
PROMPT_CHARS = 12_000


class _Generator(Protocol):
    """The part of the model gateway this service uses."""

    def generate_stream(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        format: str | dict[str, Any] | None = None,
        purpose: str = "",
    ) -> AsyncIterator[Any]: ...


class ContentItem(BaseModel):
    """One stored piece of content."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    source_id: str | None
    ref: str | None = Field(description="Key within its source: URL, file path, Message-ID")
    url: str | None
    title: str | None
    text: str
    mime_type: str = Field(description="Detected from the bytes, not from what the sender claimed")
    size_bytes: int
    content_hash: str = Field(description="sha256 of the normalised text; one item per hash")
    quality_score: float = Field(description="0-1: length, text/markup ratio, letters, variety")
    metadata: dict[str, Any] = Field(validation_alias="meta")
    results: dict[str, Any] = Field(description="Stored results of model operations, by operation")
    created_at: datetime
    updated_at: datetime


class ContentPage(BaseModel):
    """A page of items (newest first) and how many matched."""

    items: list[ContentItem]
    total: int


class OperationResult(BaseModel):
    """One operation's outcome: its result, or why there is none (never an invented one)."""

    status: Literal["ok", "failed"]
    result: dict[str, Any] | None = None
    error: str | None = None
    model: str | None = None
    cached: bool = False


class ProcessResult(BaseModel):
    """An item after processing, whether it was new, and each operation's outcome."""

    item: ContentItem
    stored: Literal["new", "changed", "unchanged"]
    operations: dict[str, OperationResult] = Field(default_factory=dict)
    index_error: str | None = Field(None, description="Why the item could not be indexed for search")


class BatchItemResult(BaseModel):
    """One entry of a batch: its result, or why it failed."""

    index: int
    status: Literal["ok", "failed"]
    result: ProcessResult | None = None
    error: str | None = None


class BatchResult(BaseModel):
    """Every entry's outcome, in request order."""

    results: list[BatchItemResult]
    succeeded: int
    failed: int


class CacheStats(BaseModel):
    """The processing-result cache."""

    entries: int
    max_entries: int
    hits: int
    misses: int
    evictions: int
    hit_rate: float


@dataclass(frozen=True, slots=True)
class Incoming:
    """Content to store: the raw bytes plus what its source said about it."""

    body: bytes
    ref: str | None = None
    url: str | None = None
    title: str | None = None
    claimed_mime: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Incoming content after detection and extraction."""

    incoming: Incoming
    extracted: Extracted


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one prepared item did."""

    status: Literal["new", "changed", "unchanged"]
    item: ContentItem


class _Entities(BaseModel):
    class Entity(BaseModel):
        text: str = Field(min_length=1)
        type: str = Field(min_length=1)

    entities: list[Entity]


class _Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral", "mixed"]
    score: float = Field(ge=-1, le=1)


class _Keywords(BaseModel):
    keywords: list[str]


class _Language(BaseModel):
    language: str = Field(min_length=2, max_length=8, description="ISO 639-1 code")


_STRUCTURED: dict[str, tuple[type[BaseModel], str]] = {
    "extract_entities": (
        _Entities,
        "List the named entities (people, organisations, places, products, dates, ...) in the text "
        'below as JSON {"entities": [{"text": ..., "type": ...}]}.',
    ),
    "sentiment": (
        _Sentiment,
        'Judge the overall sentiment of the text below. Answer as JSON {"label": "positive" | '
        '"negative" | "neutral" | "mixed", "score": a number from -1 (negative) to 1 (positive)}.',
    ),
    "keywords": (
        _Keywords,
        'Give up to {max_keywords} keywords or key phrases of the text below as JSON {"keywords": [...]}.',
    ),
    "language": (
        _Language,
        'Which language is the text below written in? Answer as JSON {"language": ISO 639-1 code}.',
    ),
}


class _CountingCache(LRUCache[tuple[str, ...], dict[str, Any]]):
    """cachetools' LRU cache, counting what it evicts (its documented subclassing hook)."""

    evictions = 0

    def popitem(self) -> tuple[tuple[str, ...], dict[str, Any]]:
        item = super().popitem()
        self.evictions += 1
        return item


def _item(row: ContentItemRow) -> ContentItem:
    return ContentItem.model_validate(row, from_attributes=True)


def index_doc(item: ContentItem, kind: str | None = None) -> IndexDoc:
    """What the semantic index gets for an item (metadata of plain values only)."""
    metadata: dict[str, Any] = {
        "source_id": item.source_id,
        "source_kind": kind,
        "title": item.title,
        "url": item.url,
        "ref": item.ref,
        "mime_type": item.mime_type,
        "quality_score": item.quality_score,
    }
    return IndexDoc(
        id=item.id,
        text=item.text,
        metadata={key: value for key, value in metadata.items() if value is not None},
    )


class ContentService:
    """Store, find and process content items."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        llm: _Generator,
        *,
        default_model: Callable[[], Awaitable[str | None]],
        index: ContentIndex | None = None,
        max_item_bytes: int = 10 * 1024 * 1024,
        cache_entries: int = 1000,
        batch_concurrency: int = 4,
        model: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._llm = llm
        self._default_model = default_model
        self.index = index
        self.max_item_bytes = max_item_bytes
        self._batch_concurrency = batch_concurrency
        self._model = model
        self._cache = _CountingCache(maxsize=cache_entries)
        self._hits = 0
        self._misses = 0

    # -- storing --

    async def prepare(self, incoming: Incoming) -> Prepared:
        """Detect and extract ``incoming`` off the loop; ``InvalidInput`` says why it cannot be."""
        extracted = await asyncio.to_thread(
            extract, incoming.body, claimed_mime=incoming.claimed_mime, max_bytes=self.max_item_bytes
        )
        return Prepared(incoming, extracted)

    async def prepare_many(self, incoming: Sequence[Incoming]) -> list[Prepared | InvalidInput]:
        """``prepare`` for a batch in one trip to a thread; an entry that cannot be gives its error."""

        limit = self.max_item_bytes

        def run() -> list[Prepared | InvalidInput]:
            out: list[Prepared | InvalidInput] = []
            for one in incoming:
                try:
                    extracted = extract(one.body, claimed_mime=one.claimed_mime, max_bytes=limit)
                except InvalidInput as exc:
                    out.append(exc)
                else:
                    out.append(Prepared(one, extracted))
            return out

        return await asyncio.to_thread(run)

    async def store(self, prepared: Sequence[Prepared], source_id: str | None = None) -> list[Stored]:
        """Store a batch in one transaction: new items, changed ones (same ref, other text), and the
        rest unchanged (their text is already stored). All or nothing: a failure stores none."""
        try:
            return await self._store(prepared, source_id)
        except IntegrityError:
            # The same text was stored by a concurrent call between our look-up and our insert:
            # a second pass finds it and counts it as unchanged.
            return await self._store(prepared, source_id)

    async def _store(self, prepared: Sequence[Prepared], source_id: str | None) -> list[Stored]:
        """Two look-ups for the whole batch (by hash, by ref) and one flush: a row at a time cost a
        round trip to the database thread per query and made ingesting ~5x slower."""
        now = utcnow()
        async with self._sessions.begin() as session:
            hashes = {entry.extracted.content_hash for entry in prepared}
            by_hash: dict[str, ContentItemRow] = {}
            if hashes:
                found = await session.scalars(
                    select(ContentItemRow).where(ContentItemRow.content_hash.in_(hashes))
                )
                by_hash = {row.content_hash: row for row in found}
            refs = {entry.incoming.ref for entry in prepared if entry.incoming.ref is not None}
            by_ref: dict[str, ContentItemRow] = {}
            if source_id is not None and refs:
                found = await session.scalars(
                    select(ContentItemRow).where(
                        ContentItemRow.source_id == source_id, ContentItemRow.ref.in_(refs)
                    )
                )
                by_ref = {row.ref: row for row in found if row.ref is not None}
            decided = [self._store_one(session, entry, source_id, now, by_hash, by_ref) for entry in prepared]
            await session.flush()
            return [Stored(status, _item(row)) for status, row in decided]

    @staticmethod
    def _store_one(
        session: AsyncSession,
        entry: Prepared,
        source_id: str | None,
        now: datetime,
        by_hash: dict[str, ContentItemRow],
        by_ref: dict[str, ContentItemRow],
    ) -> tuple[Literal["new", "changed", "unchanged"], ContentItemRow]:
        """What storing ``entry`` does, given the rows of its batch by hash and by ref (kept current)."""
        incoming, extracted = entry.incoming, entry.extracted
        same_text = by_hash.get(extracted.content_hash)
        if same_text is not None:
            return "unchanged", same_text
        same_ref = None
        if source_id is not None and incoming.ref is not None:
            same_ref = by_ref.get(incoming.ref)
        row = same_ref or ContentItemRow(source_id=source_id, ref=incoming.ref, created_at=now)
        if same_ref is not None:
            by_hash.pop(same_ref.content_hash, None)  # its old text is gone
        row.url = incoming.url or row.url
        row.title = incoming.title or extracted.title
        row.text = extracted.text
        row.mime_type = extracted.mime_type
        row.size_bytes = extracted.size_bytes
        row.content_hash = extracted.content_hash
        row.quality_score = extracted.quality_score
        row.meta = {**extracted.metadata, **incoming.metadata}
        row.results = {}  # results of the old text do not describe the new one
        row.updated_at = now
        if same_ref is None:
            session.add(row)
            if incoming.ref is not None and source_id is not None:
                by_ref[incoming.ref] = row
        by_hash[extracted.content_hash] = row
        return ("changed" if same_ref is not None else "new"), row

    async def index_items(self, items: Sequence[ContentItem], kind: str | None = None) -> str | None:
        """Hand items to the semantic index; ``None`` when done (or no index), else why not."""
        if self.index is None or not items:
            return None
        try:
            await self.index.index([index_doc(item, kind) for item in items])
        except AgenticError as exc:
            log.warning("Indexing %d content items failed: %s", len(items), exc)
            return str(exc)
        return None

    # -- reading --

    async def get(self, item_id: str) -> ContentItem:
        """One item; ``NotFound`` when there is none."""
        async with self._sessions() as session:
            row = await session.get(ContentItemRow, item_id)
            if row is None:
                raise NotFound(f"Content item {item_id} not found")
            return _item(row)

    async def list(self, *, source_id: str | None = None, limit: int = 50, offset: int = 0) -> ContentPage:
        """Items newest first, optionally of one source."""
        query = select(ContentItemRow)
        count = select(func.count()).select_from(ContentItemRow)
        if source_id is not None:
            query = query.where(ContentItemRow.source_id == source_id)
            count = count.where(ContentItemRow.source_id == source_id)
        query = (
            query.order_by(ContentItemRow.created_at.desc(), ContentItemRow.id).limit(limit).offset(offset)
        )
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
            total = await session.scalar(count) or 0
        return ContentPage(items=[_item(row) for row in rows], total=total)

    # -- processing --

    async def process(
        self,
        *,
        content_id: str | None = None,
        incoming: Incoming | None = None,
        operations: Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
    ) -> ProcessResult:
        """Store ``incoming`` (or take the stored ``content_id``), then run ``operations`` on it.

        The item is stored even when Ollama is down: each operation then reports the failure in
        its own result, and nothing is invented in its place.
        """
        options = dict(options or {})
        index_error = None
        if content_id is not None:
            item, stored = await self.get(content_id), "unchanged"
        elif incoming is not None:
            prepared = await self.prepare(incoming)
            outcome = (await self.store([prepared]))[0]
            item, stored = outcome.item, outcome.status
            if stored != "unchanged":
                index_error = await self.index_items([item])
        else:
            raise InvalidInput("Give content_id, text or data")
        results: dict[str, OperationResult] = {}
        for operation in dict.fromkeys(operations):
            results[operation] = await self._operate(item, operation, options)
        done = {
            name: {**result.result, "model": result.model}
            for name, result in results.items()
            if result.result
        }
        if done:
            item = await self._save_results(item.id, done)
        return ProcessResult(item=item, stored=stored, operations=results, index_error=index_error)

    async def batch(
        self,
        entries: Sequence[str | Incoming],
        *,
        operations: Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
        parallel: bool = True,
    ) -> BatchResult:
        """Process every entry (an item id or inline content) with bounded concurrency; one
        failure is that entry's result and never stops the others."""
        gate = asyncio.Semaphore(self._batch_concurrency if parallel else 1)

        async def one(index: int, entry: str | Incoming) -> BatchItemResult:
            async with gate:
                try:
                    if isinstance(entry, str):
                        result = await self.process(content_id=entry, operations=operations, options=options)
                    else:
                        result = await self.process(incoming=entry, operations=operations, options=options)
                except AgenticError as exc:
                    return BatchItemResult(index=index, status="failed", error=str(exc))
                except Exception:  # one entry's bug must not sink the batch: logged, reported
                    log.exception("Batch entry %d failed", index)
                    return BatchItemResult(index=index, status="failed", error="internal error; see the log")
            return BatchItemResult(index=index, status="ok", result=result)

        results = await asyncio.gather(*(one(index, entry) for index, entry in enumerate(entries)))
        failed = sum(result.status == "failed" for result in results)
        return BatchResult(results=list(results), succeeded=len(results) - failed, failed=failed)

    async def _save_results(self, item_id: str, done: dict[str, Any]) -> ContentItem:
        async with self._sessions.begin() as session:
            row = await session.get(ContentItemRow, item_id)
            if row is None:
                raise NotFound(f"Content item {item_id} was deleted while it was processed")
            row.results = {**row.results, **done}
            return _item(row)

    async def _operate(self, item: ContentItem, operation: str, options: dict[str, Any]) -> OperationResult:
        model = None
        try:
            model = self._model or await self._default_model()
            if model is None:
                raise DependencyDown("No model is installed in Ollama: pull one in the Models panel")
            key = (item.content_hash, operation, model, json.dumps(options, sort_keys=True, default=str))
            cached = self._cache.get(key)
            if cached is not None:
                self._hits += 1
                return OperationResult(status="ok", result=cached, model=model, cached=True)
            self._misses += 1
            result = await self._ask(item.text, operation, model, options)
        except AgenticError as exc:
            return OperationResult(status="failed", error=str(exc), model=model)
        self._cache[key] = result
        return OperationResult(status="ok", result=result, model=model)

    async def _ask(self, text: str, operation: str, model: str, options: dict[str, Any]) -> dict[str, Any]:
        truncated = len(text) > PROMPT_CHARS
        body = text[:PROMPT_CHARS]
        if operation == "summarize":
            words = int(options.get("max_length") or 120)
            prompt = (
                f"Summarize the following text in at most {words} words. "
                f"Answer with the summary only.\n\n{body}"
            )
            answer = await collect(self._llm.generate_stream(model, prompt, purpose="content"))
            summary = answer.text.strip()
            if not summary:
                raise DependencyDown(f"{model} returned an empty summary")
            result: dict[str, Any] = {"summary": summary}
        else:
            shape, instruction = _STRUCTURED[operation]
            prompt = instruction.replace("{max_keywords}", str(int(options.get("max_keywords") or 10)))
            answer = await collect(
                self._llm.generate_stream(
                    model,
                    f"{prompt}\n\n{body}",
                    format=shape.model_json_schema(),
                    options={"temperature": 0},
                    purpose="content",
                )
            )
            try:
                result = shape.model_validate_json(answer.text).model_dump()
            except ValidationError as exc:
                raise DependencyDown(
                    f"{model} did not answer {operation} in the expected shape "
                    f"({exc.error_count()} problem(s)); try another model"
                ) from exc
        if truncated:
            result["truncated_to_chars"] = PROMPT_CHARS
        return result

    def cache_stats(self) -> CacheStats:
        """Entries, limit and hit/miss/eviction counters of the result cache."""
        lookups = self._hits + self._misses
        return CacheStats(
            entries=len(self._cache),
            max_entries=int(self._cache.maxsize),
            hits=self._hits,
            misses=self._misses,
            evictions=self._cache.evictions,
            hit_rate=round(self._hits / lookups, 4) if lookups else 0.0,
        )
