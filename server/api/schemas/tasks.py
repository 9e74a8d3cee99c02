"""Task requests and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.services.task_types import TaskInput
from server.services.tasks import Task

__all__ = ["Task", "TaskListQuery", "TaskRunIn"]


class TaskRunIn(BaseModel):
    """Which agent runs what: ``input.type`` is generate, chat, summarize or analyze."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=64)
    input: TaskInput


class TaskListQuery(BaseModel):
    """Filters and paging for the task list (newest first)."""

    agent_id: str | None = None
    status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = None
    agent_type: str | None = None
    include_dynamic: bool = True
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)
