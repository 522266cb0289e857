"""channels: notification counts by day and channel, kept by the database

GET /channels (all time) and the per-channel figures of GET /stats passed over
every notification; they now read the counts per status and the latency sums
of the sent ones, per (day of created_at, channel), from `notification_sums`,
and over all time from `notification_totals` (a row per channel). The same
design as the ended alerts' sums (0016): the database writes every change as
a signed delta to `notification_deltas`, in the writing transaction, whatever
path wrote it (the API, the ingest statement, delivery, flood control,
housekeeping's deletions, a cascade from a deleted alert); housekeeping folds
the deltas in (db/notification_sums.py). A delta is an insert of its own,
never an update of a shared row: senders wait for nothing.

A delta row is wide (a column per figure), so a change of status within a
day and channel is one row: pending -1, sent +1. Row triggers, on both
databases, whose WHEN skips the updates that change no figure (a claim,
pending to sending; a retry, back to pending; a lease): a statement that
queues or sends no notification pays nothing. Statement triggers with
transition tables were tried on PostgreSQL: cheaper per row in a large
batch, but a cost on every statement, the ingest statement's duplicates and
every claim included (about 0.1 ms each, measured with EXPLAIN ANALYZE).

Revision ID: 0021_notification_sums
Revises: 0020_user_calendar
Create Date: 2026-12-01 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0021_notification_sums"
down_revision: str | None = "0020_user_calendar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ("day", "channel")
MEASURES = ("sent", "failed", "pending", "silenced", "folded", "latency_sum", "latency_count")
INSERT = f"INSERT INTO notification_deltas ({', '.join(KEY + MEASURES)})"
# What the figures of a row depend on: its status (pending and sending count
# alike), its channel and day, and a sent row's latency.
_CATEGORY = "CASE WHEN {row}.status = 'sending' THEN 'pending' ELSE {row}.status END"


def _day(dialect: str, row: str) -> str:
    if dialect == "postgresql":
        return f"date_trunc('day', {row}.created_at, 'UTC')"
    # SQLite keeps UTC as text 'YYYY-MM-DD HH:MM:SS.ffffff' (db/types.py).
    return f"substr({row}.created_at, 1, 10) || ' 00:00:00.000000'"


def _values(dialect: str, row: str, sign: str) -> list[str]:
    """A notification row's contribution, signed, in the order KEY + MEASURES."""
    flag = "::int" if dialect == "postgresql" else ""
    sent = f"{row}.status = 'sent'"
    return [
        _day(dialect, row),
        f"{row}.channel",
        f"{sign}({sent}){flag}",
        f"{sign}({row}.status = 'failed'){flag}",
        f"{sign}({row}.status IN ('pending', 'sending')){flag}",
        f"{sign}({row}.status = 'silenced'){flag}",
        f"{sign}({row}.status = 'folded'){flag}",
        f"{sign}(CASE WHEN {sent} THEN coalesce({row}.duration_ms, 0.0) ELSE 0.0 END)",
        f"{sign}({sent} AND {row}.duration_ms IS NOT NULL){flag}",
    ]


def _sums() -> list[sa.Column[object]]:
    return [
        sa.Column("day", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        *(
            sa.Column(name, sa.Double() if name.endswith("_sum") else sa.BigInteger(), nullable=False)
            for name in MEASURES
        ),
    ]


def _postgresql_triggers() -> list[str]:
    old, new = _values("postgresql", "OLD", "-"), _values("postgresql", "NEW", "")
    # A change within one (day, channel): one row, the difference.
    difference = [*new[: len(KEY)], *(f"{n} + {o}" for n, o in zip(new[len(KEY) :], old[len(KEY) :], strict=True))]
    return [
        f"""
        CREATE FUNCTION notification_delta() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {INSERT} VALUES ({", ".join(new)});
            ELSIF TG_OP = 'DELETE' THEN
                {INSERT} VALUES ({", ".join(old)});
            ELSIF OLD.channel = NEW.channel AND {old[0]} = {new[0]} THEN
                {INSERT} VALUES ({", ".join(difference)});
            ELSE
                {INSERT} VALUES ({", ".join(old)}), ({", ".join(new)});
            END IF;
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER notification_inserted AFTER INSERT ON notifications FOR EACH ROW "
        "EXECUTE FUNCTION notification_delta()",
        "CREATE TRIGGER notification_updated AFTER UPDATE ON notifications FOR EACH ROW "
        f"WHEN ({_changed('IS DISTINCT FROM')}) EXECUTE FUNCTION notification_delta()",
        "CREATE TRIGGER notification_deleted AFTER DELETE ON notifications FOR EACH ROW "
        "EXECUTE FUNCTION notification_delta()",
    ]


def _changed(distinct: str) -> str:
    """An update that changes a figure: the status's category, the channel
    or day, or a sent row's latency (a claim, pending to sending, or a
    retry, back to pending, changes none)."""
    category = _CATEGORY.format(row="OLD"), _CATEGORY.format(row="NEW")
    sent = f"(OLD.status = 'sent' OR NEW.status = 'sent') AND OLD.duration_ms {distinct} NEW.duration_ms"
    return (
        f"({category[0]}) {distinct} ({category[1]}) OR OLD.channel {distinct} NEW.channel "
        f"OR OLD.created_at {distinct} NEW.created_at OR ({sent})"
    )


def _sqlite_triggers() -> list[str]:
    old = f"{INSERT} VALUES ({', '.join(_values('sqlite', 'OLD', '-'))});"
    new = f"{INSERT} VALUES ({', '.join(_values('sqlite', 'NEW', ''))});"
    return [
        f"CREATE TRIGGER notification_inserted AFTER INSERT ON notifications FOR EACH ROW BEGIN {new} END",
        f"CREATE TRIGGER notification_updated AFTER UPDATE ON notifications FOR EACH ROW "
        f"WHEN {_changed('IS NOT')} BEGIN {old} {new} END",
        f"CREATE TRIGGER notification_deleted AFTER DELETE ON notifications FOR EACH ROW BEGIN {old} END",
    ]


def backfill_sql(dialect: str) -> list[str]:
    """The sums of the notifications there are, by day and over all time
    (also used by bench/scale_bench.py)."""
    values = _values(dialect, "notifications", "")
    key, measures = values[: len(KEY)], values[len(KEY) :]
    by_day = (
        f"INSERT INTO notification_sums ({', '.join(KEY + MEASURES)}) "
        f"SELECT {', '.join(key)}, {', '.join(f'sum({m})' for m in measures)} "
        f"FROM notifications GROUP BY {', '.join(key)}"
    )
    totals = (
        f"INSERT INTO notification_totals ({', '.join(KEY[1:] + MEASURES)}) "
        f"SELECT {', '.join(KEY[1:])}, {', '.join(f'sum({m})' for m in MEASURES)} "
        "FROM notification_sums GROUP BY " + ", ".join(KEY[1:])
    )
    return [by_day, totals]


def upgrade() -> None:
    op.create_table(
        "notification_sums",
        *_sums(),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_notification_sums")),
    )
    op.create_table(
        "notification_totals",
        *_sums()[1:],
        sa.PrimaryKeyConstraint(*KEY[1:], name=op.f("pk_notification_totals")),
    )
    op.create_table(
        "notification_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deltas")),
    )
    dialect = op.get_bind().dialect.name
    for statement in _postgresql_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    for statement in backfill_sql(dialect):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in ("notification_inserted", "notification_updated", "notification_deleted"):
        op.execute(f"DROP TRIGGER {trigger} ON notifications" if postgresql else f"DROP TRIGGER {trigger}")
    if postgresql:
        op.execute("DROP FUNCTION notification_delta()")
    op.drop_table("notification_deltas")
    op.drop_table("notification_totals")
    op.drop_table("notification_sums")
