"""Agents' secrets, their audit trail and the vault's canary.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db.base import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_secrets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("agent_id", sa.String(36), nullable=False),
        sa.Column("secret_key", sa.String(100), nullable=False),
        sa.Column("encrypted_value", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_secrets_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_secrets")),
        sa.UniqueConstraint("agent_id", "secret_key", name=op.f("uq_agent_secrets_agent_id")),
    )
    op.create_table(
        "secret_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(36), nullable=True),
        sa.Column("secret_id", sa.String(36), nullable=True),
        sa.Column("secret_key", sa.String(100), nullable=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(150), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_audit")),
    )
    op.create_index("ix_secret_audit_agent_id_at", "secret_audit", ["agent_id", "at"])
    op.create_table(
        "vault_meta",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_vault_meta")),
    )


def downgrade() -> None:
    op.drop_table("vault_meta")
    op.drop_index("ix_secret_audit_agent_id_at", table_name="secret_audit")
    op.drop_table("secret_audit")
    op.drop_table("agent_secrets")
