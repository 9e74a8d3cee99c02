"""Agents' secrets (encrypted values), the audit trail of every change and reveal, and vault facts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, new_id, utcnow


class SecretRow(Base):
    """One secret of one agent; the value is a Fernet token, never plaintext. Soft-deleted by
    ``is_active = False``; creating the same key again brings the row back with the new value."""

    __tablename__ = "agent_secrets"
    __table_args__ = (UniqueConstraint("agent_id", "secret_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agent_id: Mapped[str] = mapped_column(String(36), ForeignKey("agents.id", ondelete="CASCADE"))
    secret_key: Mapped[str] = mapped_column(String(100))
    encrypted_value: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SecretAuditRow(Base):
    """Who did what to which secret, when, and through which door (api, window, task, cli).

    Not tied to the agent by a foreign key: the trail outlives a deleted agent."""

    __tablename__ = "secret_audit"
    __table_args__ = (Index("ix_secret_audit_agent_id_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    agent_id: Mapped[str | None] = mapped_column(String(36))
    secret_id: Mapped[str | None] = mapped_column(String(36))
    secret_key: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(150))
    via: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class VaultMetaRow(Base):
    """Facts about the vault itself; ``canary`` holds a known text encrypted with the master key,
    so a start with the wrong key is caught before anything is written."""

    __tablename__ = "vault_meta"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
