"""Ollama hosts registered besides the one in the settings (the router's host registry)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow


class OllamaHostRow(Base):
    """One registered host; the agentic-server token is stored encrypted with the vault's key."""

    __tablename__ = "ollama_hosts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)
    supported_request_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_concurrent_requests: Mapped[int] = mapped_column(default=4)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    agentic_url: Mapped[str | None] = mapped_column(String(500))
    agentic_token_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
