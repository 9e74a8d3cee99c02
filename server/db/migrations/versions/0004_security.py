"""Security incidents, and each task's resource use.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db.base import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("resource_usage", sa.JSON(), nullable=True))
    op.create_table(
        "security_incidents",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("agent_id", sa.String(36), nullable=True),
        sa.Column("agent_type", sa.String(100), nullable=True),
        sa.Column("violation_type", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolution_notes", sa.Text(), nullable=True),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(150), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_incidents")),
    )
    op.create_index("ix_security_incidents_timestamp", "security_incidents", ["timestamp"])
    op.create_index(
        "ix_security_incidents_agent_id_timestamp", "security_incidents", ["agent_id", "timestamp"]
    )
    op.create_index("ix_security_incidents_resolved_severity", "security_incidents", ["resolved", "severity"])


def downgrade() -> None:
    op.drop_table("security_incidents")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("resource_usage")
