"""duplicates update alerts in place: no index on last_seen_at, room on each page

Revision ID: 0004_hot_dedup
Revises: 0003_silences
Create Date: 2026-11-28 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_hot_dedup"
down_revision: str | None = "0003_silences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_fingerprint_last_seen_at")
        batch_op.create_index("ix_alerts_fingerprint_first_seen_at", ["fingerprint", "first_seen_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # New and rewritten pages keep 15 % free for in-place (HOT) updates.
        op.execute("ALTER TABLE alerts SET (fillfactor = 85)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts RESET (fillfactor)")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_fingerprint_first_seen_at")
        batch_op.create_index("ix_alerts_fingerprint_last_seen_at", ["fingerprint", "last_seen_at"], unique=False)
