"""flood control: folded notifications, digests, and the channels' shared state

A notification past its channel's `max_per_minute` becomes `folded` and
points at its digest (`digest_id`); a digest row names the clock minute it
folds (`window_start`), once per channel and minute. `channel_states` holds
what every replica must see of a channel: a pause its provider asked for,
and the count of individual notifications started in the current minute.

Revision ID: 0013_flood_control
Revises: 0012_channel_messages
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0013_flood_control"
down_revision: str | None = "0012_channel_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "status IN ('pending', 'sending', 'sent', 'failed', 'silenced')"
AFTER = "status IN ('pending', 'sending', 'sent', 'failed', 'silenced', 'folded')"


def upgrade() -> None:
    op.create_table(
        "channel_states",
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("paused_until", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_start", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_states")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("window_start", app.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_digest_id_notifications"),
            "notifications",
            ["digest_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_notifications_digest_id", ["digest_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_notifications_channel_window_start"), ["channel", "window_start"]
        )
        batch_op.drop_constraint(batch_op.f("ck_notifications_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_notifications_status"), sa.text(AFTER))


def downgrade() -> None:
    op.execute("UPDATE notifications SET status = 'sent' WHERE status = 'folded'")
    op.execute("DELETE FROM notifications WHERE reason = 'digest'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_notifications_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_notifications_status"), sa.text(BEFORE))
        batch_op.drop_constraint(batch_op.f("uq_notifications_channel_window_start"), type_="unique")
        batch_op.drop_index("ix_notifications_digest_id")
        batch_op.drop_constraint(batch_op.f("fk_notifications_digest_id_notifications"), type_="foreignkey")
        batch_op.drop_column("window_start")
        batch_op.drop_column("digest_id")
    op.drop_table("channel_states")
