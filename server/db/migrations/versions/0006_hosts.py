"""Ollama hosts (registry, state) for the router (issue 13); the instance that runs each task.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db.base import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ollama_hosts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("supported_request_types", sa.JSON(), nullable=False),
        sa.Column("max_concurrent_requests", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("agentic_url", sa.String(500), nullable=True),
        sa.Column("agentic_token_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ollama_hosts")),
        sa.UniqueConstraint("url", name=op.f("uq_ollama_hosts_url")),
    )
    # Boxes sharing one database: a box that starts fails only the tasks it was running itself.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("owner")
    op.drop_table("ollama_hosts")
