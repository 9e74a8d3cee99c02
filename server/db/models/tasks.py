"""Tasks run with an agent, and the log entries they write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, new_id, utcnow


class TaskRow(Base):
    """One task: its input, state, output or error, and timings."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_created_at", "created_at"),
        Index("ix_tasks_agent_id_created_at", "agent_id", "created_at"),
        Index("ix_tasks_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agent_id: Mapped[str] = mapped_column(String(36), ForeignKey("agents.id", ondelete="CASCADE"))
    task_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    model_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    resource_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The instance (box) that runs it: a box that starts fails only its own interrupted tasks.
    owner: Mapped[str | None] = mapped_column(String(64), default=None)


class LogRow(Base):
    """One structured log entry (task logs, Ollama downloads, security events, ...)."""

    __tablename__ = "logs"
    __table_args__ = (
        Index("ix_logs_task_id_id", "task_id", "id"),
        Index("ix_logs_agent_id_id", "agent_id", "id"),
        Index("ix_logs_level_id", "level", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(50))
    agent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="CASCADE"), default=None
    )
    task_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("tasks.id", ondelete="CASCADE"), default=None
    )
