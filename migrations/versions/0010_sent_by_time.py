"""ix_notifications_sent_created_at: the sent notifications of a window, by time

The console's stats page reads each channel's deliveries over a window by
creation time; no index held created_at, so every window scanned the table.
Partial, like the latency index: a row gets its entry once, when it is sent
(an update that touches indexed columns, and so every index, already).

Revision ID: 0010_sent_by_time
Revises: 0009_silence_generation
Create Date: 2026-11-30 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_sent_by_time"
down_revision: str | None = "0009_silence_generation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT = "status = 'sent'"


def upgrade() -> None:
    op.create_index(
        "ix_notifications_sent_created_at",
        "notifications",
        ["created_at", "channel", "duration_ms"],
        postgresql_where=sa.text(SENT),
        sqlite_where=sa.text(SENT),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_sent_created_at", "notifications")
