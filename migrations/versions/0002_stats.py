"""acknowledge_minutes, last_notify_reason, and the indexes /stats reads

Revision ID: 0002_stats
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_stats"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partial(where: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("acknowledge_minutes", sa.Double(), nullable=True))
        batch.add_column(sa.Column("last_notify_reason", sa.String(length=20), nullable=True))
    # Alerts acknowledged before this column existed get it from their timestamps.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE alerts SET acknowledge_minutes = EXTRACT(EPOCH FROM acknowledged_at - triggered_at) / 60.0 "
            "WHERE acknowledged_at IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE alerts SET acknowledge_minutes = (julianday(acknowledged_at) - julianday(triggered_at)) * 1440.0 "
            "WHERE acknowledged_at IS NOT NULL"
        )
    op.create_index("ix_alerts_resolution_minutes", "alerts", ["resolution_minutes"], **_partial("resolution_minutes IS NOT NULL"))
    op.create_index("ix_alerts_acknowledge_minutes", "alerts", ["acknowledge_minutes"], **_partial("acknowledge_minutes IS NOT NULL"))
    op.create_index("ix_alert_events_reopened", "alert_events", ["alert_id"], **_partial("to_status = 'reopened'"))
    op.create_index("ix_alert_events_escalations", "alert_events", ["at"], **_partial("kind = 'escalation'"))
    op.create_index(
        "ix_notifications_unsent", "notifications", ["channel", "status"], **_partial("status <> 'sent'")
    )
    op.create_index(
        "ix_notifications_sent_latency", "notifications", ["channel", "duration_ms"], **_partial("status = 'sent'")
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_sent_latency", "notifications")
    op.drop_index("ix_notifications_unsent", "notifications")
    op.drop_index("ix_alert_events_escalations", "alert_events")
    op.drop_index("ix_alert_events_reopened", "alert_events")
    op.drop_index("ix_alerts_acknowledge_minutes", "alerts")
    op.drop_index("ix_alerts_resolution_minutes", "alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("last_notify_reason")
        batch.drop_column("acknowledge_minutes")
