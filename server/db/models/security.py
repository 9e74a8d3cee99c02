"""Security incidents: what was refused or stopped, why, and whether an operator has dealt with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, utcnow


class IncidentRow(Base):
    """One incident; ``id`` is ``sec_<epoch seconds>_<random>`` as the spec shows."""

    __tablename__ = "security_incidents"
    __table_args__ = (
        Index("ix_security_incidents_timestamp", "timestamp"),
        Index("ix_security_incidents_agent_id_timestamp", "agent_id", "timestamp"),
        Index("ix_security_incidents_resolved_severity", "resolved", "severity"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(String(36))
    agent_type: Mapped[str | None] = mapped_column(String(100))
    violation_type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    resolved: Mapped[bool] = mapped_column(default=False)
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(150))
