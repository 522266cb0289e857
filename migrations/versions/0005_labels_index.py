"""GET /alerts?label=key=value reads an index of the labels on PostgreSQL

Revision ID: 0005_labels_index
Revises: 0004_hot_dedup
Create Date: 2026-11-30 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_labels_index"
down_revision: str | None = "0004_hot_dedup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # GIN with jsonb_path_ops serves `labels @> '{"env": "prod"}'`. SQLite
    # gets an ordinary index, which its filter does not use: one schema for
    # both databases, and labels never change after an alert is created.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alerts_labels", ["labels"], unique=False, postgresql_using="gin", postgresql_ops={"labels": "jsonb_path_ops"}
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_labels")
