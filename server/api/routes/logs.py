"""Task logs, log history, and a task's log as server-sent events."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.logs import LogEntry, LogHistoryQuery, TaskLogQuery
from server.events import LogRecorded, TaskChanged

if TYPE_CHECKING:
    from server.bus import Event

routes = RouteRegistry(tags=("logs",))

KEEPALIVE = 15.0


@routes.get(
    "/api/v1/logs/history", summary="Query past log entries", query=LogHistoryQuery, response=list[LogEntry]
)
async def log_history(request: web.Request, query: LogHistoryQuery) -> list[LogEntry]:
    """Newest first; ``search`` matches text in the message."""
    return await request.app[BACKEND].logs.history(**query.model_dump())


@routes.get(
    "/api/v1/logs/stream/{task_id}",
    summary="A task's log as server-sent events",
    media_type="text/event-stream",
    errors=(404,),
)
async def stream_task_log(request: web.Request) -> web.StreamResponse:
    """Every entry so far, then new ones as they come (``data:`` lines of JSON log entries), then
    ``event: end`` with the task when it has finished. Comments keep the connection alive."""
    backend = request.app[BACKEND]
    task_id = request.match_info["task_id"]
    with backend.bus.subscribe(LogRecorded, TaskChanged, maxsize=10_000) as events:
        task = await backend.tasks.get(task_id)
        past = await backend.logs.for_task(task_id, limit=10_000)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        seen = set()
        for entry in past:
            seen.add((entry.timestamp, entry.message))
            await response.write(_sse(entry.model_dump_json()))
        while not task.finished:
            try:
                event: Event = await asyncio.wait_for(events.get(), KEEPALIVE)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if isinstance(event, LogRecorded) and event.entry.task_id == task_id:
                if (event.entry.timestamp, event.entry.message) not in seen:
                    await response.write(_sse(event.entry.model_dump_json()))
            elif isinstance(event, TaskChanged) and event.task.id == task_id:
                task = event.task
        await response.write(_sse(task.model_dump_json(), event="end"))
        await response.write_eof()
    return response


@routes.get(
    "/api/v1/logs/{task_id}",
    summary="A task's log entries",
    query=TaskLogQuery,
    response=list[LogEntry],
    errors=(404,),
)
async def task_log(request: web.Request, query: TaskLogQuery) -> list[LogEntry]:
    """Oldest first."""
    backend = request.app[BACKEND]
    task_id = request.match_info["task_id"]
    await backend.tasks.get(task_id)  # 404 for an unknown task
    return await backend.logs.for_task(task_id, limit=query.limit)


def _sse(data: str, *, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {data}\n\n".encode()
