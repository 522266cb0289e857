"""ix_alerts_closed_at: housekeeping's deletions find their alerts by age

Retention deletes closed alerts by closed_at, 500 to a transaction. With no
index holding closed_at, each batch walked the closed alerts from the oldest
first seen, over the entries its predecessors had just deleted, and the last
batch of a run walked every closed alert (at 3 x 10^6 alerts a day of history
took 26 s to delete). Partial on the closed alerts: an alert gets its entry
once, by the update that closes it, which changes the indexed status and so
writes to every index already.

Revision ID: 0017_closed_at
Revises: 0016_ended_alert_sums
Create Date: 2026-11-30 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_closed_at"
down_revision: str | None = "0016_ended_alert_sums"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOSED = "status = 'closed'"


def upgrade() -> None:
    op.create_index(
        "ix_alerts_closed_at",
        "alerts",
        ["closed_at"],
        postgresql_where=sa.text(CLOSED),
        sqlite_where=sa.text(CLOSED),
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_closed_at", table_name="alerts")
