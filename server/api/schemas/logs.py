"""Log queries and entries."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.services.logs import Level, LogEntry

__all__ = ["LogEntry", "LogHistoryQuery", "TaskLogQuery"]


class LogHistoryQuery(BaseModel):
    """Filters and paging for past log entries (newest first)."""

    agent_id: str | None = None
    task_id: str | None = None
    level: Level | None = Field(None, description="This level and the more severe ones")
    search: str | None = Field(None, max_length=200, description="Text in the message")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class TaskLogQuery(BaseModel):
    """How many of a task's entries to return (oldest first)."""

    limit: int = Field(1000, ge=1, le=10_000)
