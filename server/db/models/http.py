"""Requests made through the outbound HTTP client: what was asked, how it went. Never a header value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, new_id, utcnow


class HttpRequestRow(Base):
    """One request (or stream download) through ``/api/v1/http/*``, kept for ``GET /http/requests/{id}``."""

    __tablename__ = "http_requests"
    __table_args__ = (Index("ix_http_requests_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))  # "request" or "download"
    method: Mapped[str] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(300))
    status_code: Mapped[int | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    response_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_limited: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    destination: Mapped[str | None] = mapped_column(Text)  # downloads: path under downloads/
    sha256: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
