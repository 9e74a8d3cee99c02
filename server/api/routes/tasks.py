"""Task management."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.api.keys import BACKEND
from server.api.registry import RouteRegistry
from server.api.schemas.tasks import Task, TaskListQuery, TaskRunIn

if TYPE_CHECKING:
    from aiohttp import web

routes = RouteRegistry(tags=("tasks",))


@routes.post(
    "/api/v1/tasks/run",
    summary="Queue a task for an agent",
    auth=True,
    body=TaskRunIn,
    response=Task,
    status=202,
    errors=(400, 404),
)
async def run_task(request: web.Request, body: TaskRunIn) -> Task:
    """Answers at once with the queued task; follow it on ``/ws/tasks/{task_id}`` or
    ``GET /api/v1/tasks/{task_id}/status``. Input types: generate (``prompt``, ``system``), chat
    (``messages``), summarize (``text``, ``length``), analyze (``text``, ``analysis_type``)."""
    return await request.app[BACKEND].tasks.run(body.agent_id, body.input)


@routes.get("/api/v1/tasks", summary="List tasks", query=TaskListQuery, response=list[Task])
async def list_tasks(request: web.Request, query: TaskListQuery) -> list[Task]:
    """Newest first."""
    return await request.app[BACKEND].tasks.list(**query.model_dump())


@routes.get("/api/v1/tasks/{task_id}/status", summary="Get a task's status", response=Task, errors=(404,))
async def get_task_status(request: web.Request) -> Task:
    return await request.app[BACKEND].tasks.get(request.match_info["task_id"])


@routes.delete(
    "/api/v1/tasks/{task_id}", summary="Cancel a task", auth=True, response=Task, errors=(404, 409)
)
async def cancel_task(request: web.Request) -> Task:
    """A queued task is cancelled at once, a running one is stopped; a finished one is a 409."""
    return await request.app[BACKEND].tasks.cancel(request.match_info["task_id"])
