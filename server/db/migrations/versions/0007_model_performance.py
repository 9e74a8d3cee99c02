"""Model performance records from real calls (issue 13).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db.base import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_performance",
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("total_duration_s", sa.Float(), nullable=False),
        sa.Column("first_token_count", sa.BigInteger(), nullable=False),
        sa.Column("total_first_token_s", sa.Float(), nullable=False),
        sa.Column("tps_count", sa.BigInteger(), nullable=False),
        sa.Column("total_tps", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("recent_durations_s", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_called_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", "task_type", name=op.f("pk_model_performance")),
    )


def downgrade() -> None:
    op.drop_table("model_performance")
