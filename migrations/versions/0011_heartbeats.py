"""heartbeats: dead man's switches, one per team and name

Revision ID: 0011_heartbeats
Revises: 0010_sent_by_time
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0011_heartbeats"
down_revision: str | None = "0010_sent_by_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UP = "state = 'up'"


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timeout_seconds", sa.Double(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("labels", app.db.types.JSONType, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("state IN ('up', 'late')", name=op.f("ck_heartbeats_state")),
        sa.CheckConstraint(
            "severity IN ('info', 'low', 'medium', 'high', 'critical')", name=op.f("ck_heartbeats_severity")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_heartbeats_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeats")),
    )
    op.create_index("uq_heartbeats_team_name", "heartbeats", ["team", "name"], unique=True)
    op.create_index(
        "ix_heartbeats_up_due_at",
        "heartbeats",
        ["due_at"],
        postgresql_where=sa.text(UP),
        sqlite_where=sa.text(UP),
    )
    op.create_index("ix_heartbeats_alert_id", "heartbeats", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_heartbeats_alert_id", "heartbeats")
    op.drop_index("ix_heartbeats_up_due_at", "heartbeats")
    op.drop_index("uq_heartbeats_team_name", "heartbeats")
    op.drop_table("heartbeats")
