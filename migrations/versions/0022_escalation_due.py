"""escalation_due: the ticker's queue, out of the alerts table

The ticker found its due alerts through a partial index on
alerts.next_escalation_at. But every step moves next_escalation_at, and an
update that changes an indexed column cannot stay on its page (a HOT
update): PostgreSQL wrote a new entry into each of the alerts table's
twenty indexes for every alert escalated. At 10^6 alerts that was most of a
tick (1,000 due alerts: about 0.5 s of index writes), and it grows with the
indexes, that is with the history kept.

Now `escalation_due` holds (alert_id, due_at) for each alert that has a
next_escalation_at, kept by triggers on alerts in the writing transaction,
whichever path wrote it (the API, the ingest statement, the ticker); the
index on alerts.next_escalation_at is gone, so a step changes no indexed
column of alerts and its update stays on the page. alerts.next_escalation_at
stays the truth (the ticker checks it on the row it locks); this table only
finds the rows. A duplicate that leaves next_escalation_at alone fires
nothing.

Revision ID: 0022_escalation_due
Revises: 0021_notification_sums
Create Date: 2026-12-01 02:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0022_escalation_due"
down_revision: str | None = "0021_notification_sums"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = ("escalation_due_inserted", "escalation_due_updated")
BACKFILL = (
    "INSERT INTO escalation_due (alert_id, due_at) "
    "SELECT id, next_escalation_at FROM alerts WHERE next_escalation_at IS NOT NULL"
)


def _postgresql_triggers() -> list[str]:
    return [
        """
        CREATE FUNCTION escalation_due_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.next_escalation_at IS NULL THEN
                DELETE FROM escalation_due WHERE alert_id = NEW.id;
            ELSE
                INSERT INTO escalation_due (alert_id, due_at) VALUES (NEW.id, NEW.next_escalation_at)
                ON CONFLICT (alert_id) DO UPDATE SET due_at = EXCLUDED.due_at;
            END IF;
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER escalation_due_inserted AFTER INSERT ON alerts FOR EACH ROW "
        "WHEN (NEW.next_escalation_at IS NOT NULL) EXECUTE FUNCTION escalation_due_kept()",
        "CREATE TRIGGER escalation_due_updated AFTER UPDATE OF next_escalation_at ON alerts FOR EACH ROW "
        "WHEN (OLD.next_escalation_at IS DISTINCT FROM NEW.next_escalation_at) "
        "EXECUTE FUNCTION escalation_due_kept()",
    ]


def _sqlite_triggers() -> list[str]:
    upsert = (
        "INSERT INTO escalation_due (alert_id, due_at) SELECT NEW.id, NEW.next_escalation_at "
        "WHERE NEW.next_escalation_at IS NOT NULL "
        "ON CONFLICT (alert_id) DO UPDATE SET due_at = excluded.due_at;"
    )
    return [
        "CREATE TRIGGER escalation_due_inserted AFTER INSERT ON alerts FOR EACH ROW "
        f"WHEN NEW.next_escalation_at IS NOT NULL BEGIN {upsert} END",
        "CREATE TRIGGER escalation_due_updated AFTER UPDATE OF next_escalation_at ON alerts FOR EACH ROW "
        "WHEN OLD.next_escalation_at IS NOT NEW.next_escalation_at BEGIN "
        "DELETE FROM escalation_due WHERE alert_id = NEW.id AND NEW.next_escalation_at IS NULL; "
        f"{upsert} END",
    ]


def upgrade() -> None:
    op.create_table(
        "escalation_due",
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_escalation_due_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_escalation_due")),
    )
    op.create_index("ix_escalation_due_due_at", "escalation_due", ["due_at"])
    dialect = op.get_bind().dialect.name
    op.execute(BACKFILL)
    for statement in _postgresql_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    op.drop_index("ix_alerts_next_escalation_at", table_name="alerts")


def downgrade() -> None:
    where = sa.text("next_escalation_at IS NOT NULL")
    op.create_index(
        "ix_alerts_next_escalation_at",
        "alerts",
        ["next_escalation_at"],
        postgresql_where=where,
        sqlite_where=where,
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON alerts" if postgresql else f"DROP TRIGGER {trigger}")
    if postgresql:
        op.execute("DROP FUNCTION escalation_due_kept()")
    op.drop_table("escalation_due")
