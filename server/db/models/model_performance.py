"""Model performance aggregates, one row per (model, task type), built from real model calls."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow


class ModelPerformanceRow(Base):
    """Running totals of the calls one model made for one task type (``purpose`` of the call).

    Totals rather than one row per call: the table stays small and a restart reloads it in one
    query. ``recent_durations_s`` is the window the latency percentiles are computed over.
    """

    __tablename__ = "model_performance"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    successes: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    total_duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    first_token_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_first_token_s: Mapped[float] = mapped_column(Float, default=0.0)
    tps_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tps: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    recent_durations_s: Mapped[list[float]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_called_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
