"""Content: process (type detection, extraction, model operations), items, batch, cache stats, and
the app's ingest sources with their runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.content import (
    BatchIn,
    BatchResult,
    CacheStats,
    ContentItem,
    ContentListQuery,
    ContentPage,
    IngestRun,
    ProcessIn,
    ProcessResult,
    RunsQuery,
    Source,
    SourceIn,
    SourcePatch,
    SourceTestIn,
    SourceTestOut,
)

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("content",))

# Fixed paths come before /api/v1/content/{content_id}, which would otherwise take them.


@routes.get("/api/v1/content/cache/stats", summary="Content cache statistics", auth=True, response=CacheStats)
async def cache_stats(request: web.Request) -> CacheStats:
    """The processing-result cache (LRU, keyed by content hash, operation, model and options):
    entries, limit, hits, misses, evictions."""
    return request.app[BACKEND].content.cache_stats()


@routes.post(
    "/api/v1/content/process",
    summary="Process content with automatic type detection",
    auth=True,
    body=ProcessIn,
    response=ProcessResult,
    errors=(400, 404),
)
async def process_content(request: web.Request, body: ProcessIn) -> ProcessResult:
    """Give ``content_id`` (a stored item) or inline ``text`` or ``data`` (base64 bytes, e.g. a PDF).
    The type is detected from the bytes; text is extracted from HTML, Markdown, JSON, PDF or plain
    text and stored once per distinct text (``stored``: new or unchanged). ``operations``
    (summarize, extract_entities, sentiment, keywords, language) run through Ollama; each reports
    ``ok`` with its result or ``failed`` with why (e.g. Ollama down): results are never invented."""
    return await request.app[BACKEND].content.process(
        content_id=body.content_id,
        incoming=body.incoming(),
        operations=body.operations,
        options=body.options.model_dump(exclude_none=True),
    )


@routes.post(
    "/api/v1/content/batch",
    summary="Batch process multiple content items",
    auth=True,
    body=BatchIn,
    response=BatchResult,
)
async def batch_process(request: web.Request, body: BatchIn) -> BatchResult:
    """``items`` are stored item ids or inline content; each gets its own result in request order,
    and one that fails never stops the others. ``pipeline_config.parallel`` false runs them one by
    one, else a few at a time (AGENTIC_CONTENT_BATCH_CONCURRENCY)."""
    entries = [item if isinstance(item, str) else item.incoming() for item in body.items]
    return await request.app[BACKEND].content.batch(
        entries,
        operations=body.pipeline_config.operations,
        options=body.options.model_dump(exclude_none=True),
        parallel=body.pipeline_config.parallel,
    )


@routes.get(
    "/api/v1/content", summary="List content items", auth=True, query=ContentListQuery, response=ContentPage
)
async def list_content(request: web.Request, query: ContentListQuery) -> ContentPage:
    """Newest first, optionally of one source."""
    return await request.app[BACKEND].content.list(**query.model_dump())


@routes.get("/api/v1/content/sources", summary="List ingest sources", auth=True, response=list[Source])
async def list_sources(request: web.Request) -> list[Source]:
    """With each one's schedule, next scheduled run and last run summary."""
    return await request.app[BACKEND].ingest.list_sources()


@routes.post(
    "/api/v1/content/sources",
    summary="Add an ingest source",
    auth=True,
    body=SourceIn,
    response=Source,
    status=201,
    errors=(400, 409),
)
async def create_source(request: web.Request, body: SourceIn) -> Source:
    """The config is checked by the connector of ``kind`` and (unless ``test`` is false) the source
    is reached once before it is saved. ``schedule``: ``{"interval_seconds": N}`` or
    ``{"cron": "m h dom mon dow"}`` (UTC)."""
    return await request.app[BACKEND].ingest.create_source(
        **body.model_dump(exclude={"schedule"}), schedule=body.schedule
    )


@routes.post(
    "/api/v1/content/sources/test",
    summary="Test a source configuration",
    auth=True,
    body=SourceTestIn,
    response=SourceTestOut,
    errors=(400,),
)
async def test_source_config(request: web.Request, body: SourceTestIn) -> SourceTestOut:
    """Reach the source once, storing nothing; a 400 says why it cannot be read."""
    message = await request.app[BACKEND].ingest.test_config(body.kind, body.config)
    return SourceTestOut(ok=True, message=message)


@routes.get(
    "/api/v1/content/sources/{source_id}",
    summary="Get an ingest source",
    auth=True,
    response=Source,
    errors=(404,),
)
async def get_source(request: web.Request) -> Source:
    return await request.app[BACKEND].ingest.get_source(request.match_info["source_id"])


@routes.route(
    "PATCH",
    "/api/v1/content/sources/{source_id}",
    summary="Change an ingest source",
    auth=True,
    body=SourcePatch,
    response=Source,
    errors=(400, 404, 409),
)
async def update_source(request: web.Request, body: SourcePatch) -> Source:
    """Only the fields given change; a new config starts the connector's state afresh."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return await request.app[BACKEND].ingest.update_source(request.match_info["source_id"], changes)


@routes.delete(
    "/api/v1/content/sources/{source_id}",
    summary="Delete an ingest source",
    auth=True,
    status=204,
    errors=(404,),
)
async def delete_source(request: web.Request) -> None:
    """Its runs and schedule go; the items it brought stay."""
    await request.app[BACKEND].ingest.delete_source(request.match_info["source_id"])


@routes.post(
    "/api/v1/content/sources/{source_id}/test",
    summary="Test a stored source",
    auth=True,
    response=SourceTestOut,
    errors=(400, 404),
)
async def test_source(request: web.Request) -> SourceTestOut:
    message = await request.app[BACKEND].ingest.test_source(request.match_info["source_id"])
    return SourceTestOut(ok=True, message=message)


@routes.post(
    "/api/v1/content/sources/{source_id}/run",
    summary="Ingest a source now",
    auth=True,
    response=IngestRun,
    status=202,
    errors=(404, 409),
)
async def run_source(request: web.Request) -> IngestRun:
    """Answers at once with the run (``running``); progress is published as ``IngestProgressed`` and
    the end as ``IngestFinished``. A 409 while the source is being ingested already."""
    return await request.app[BACKEND].ingest.run_now(request.match_info["source_id"])


@routes.get(
    "/api/v1/content/sources/{source_id}/runs",
    summary="A source's ingest runs",
    auth=True,
    query=RunsQuery,
    response=list[IngestRun],
    errors=(404,),
)
async def list_runs(request: web.Request, query: RunsQuery) -> list[IngestRun]:
    """Newest first: status, new/changed/unchanged/failed counts and each failure's reason."""
    return await request.app[BACKEND].ingest.runs(request.match_info["source_id"], **query.model_dump())


@routes.get(
    "/api/v1/content/{content_id}",
    summary="Get processed content data",
    auth=True,
    response=ContentItem,
    errors=(404,),
)
async def get_content(request: web.Request) -> ContentItem:
    """The item with its extracted text, metadata, quality score and stored operation results."""
    return await request.app[BACKEND].content.get(request.match_info["content_id"])
