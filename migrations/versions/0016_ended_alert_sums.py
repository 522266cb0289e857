"""stats: sums of ended alerts by day, kept by the database as alerts change

An ended (resolved or closed) alert's figures no longer change, so GET /stats
reads them summed per (day of first_seen_at, team, status, severity, type)
from `ended_alert_sums` instead of passing over every alert, and over all
time from `ended_alert_totals` (a few rows per kind, for a period without
bounds). Triggers on
`alerts` write the change of every insert, update and delete that touches an
ended alert to `ended_alert_deltas`, in the writing transaction, whichever
path wrote it (the API, the ingest statement, the ticker, housekeeping);
housekeeping folds the deltas into the sums (db/ended_sums.py). A delta is
an insert of its own, never an update of a shared row: two transactions
ending alerts of one kind wait for nothing and cannot deadlock over it.

Revision ID: 0016_ended_alert_sums
Revises: 0015_routing
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0016_ended_alert_sums"
down_revision: str | None = "0015_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENDED = "('resolved', 'closed')"
KEY = ("day", "team", "status", "severity", "alert_type")
MEASURES = (
    "alerts", "occurrences", "suppressed", "resolution_sum", "resolution_count",
    "ack_sum", "ack_count", "reached_2", "reached_3", "reached_4",
)  # fmt: skip
# The alert columns the sums depend on: an update that changes none of them
# (a duplicate's count of an active alert, a notification's mark) writes no delta.
WATCHED = (
    "status", "team", "first_seen_at", "severity", "alert_type", "occurrences",
    "suppressed_count", "resolution_minutes", "acknowledge_minutes", "max_escalation_level",
)  # fmt: skip


def _day(dialect: str, row: str) -> str:
    if dialect == "postgresql":
        return f"date_trunc('day', {row}.first_seen_at, 'UTC')"
    # SQLite keeps UTC as text 'YYYY-MM-DD HH:MM:SS.ffffff' (db/types.py).
    return f"substr({row}.first_seen_at, 1, 10) || ' 00:00:00.000000'"


def _values(dialect: str, row: str, sign: str) -> list[str]:
    """An alert row's contribution, signed, in the order KEY + MEASURES."""
    flag = "::int" if dialect == "postgresql" else ""
    return list(
        (
            _day(dialect, row),
            f"{row}.team",
            f"{row}.status",
            f"{row}.severity",
            f"{row}.alert_type",
            f"{sign}1",
            f"{sign}{row}.occurrences",
            f"{sign}{row}.suppressed_count",
            f"{sign}coalesce({row}.resolution_minutes, 0.0)",
            f"{sign}({row}.resolution_minutes IS NOT NULL){flag}",
            f"{sign}coalesce({row}.acknowledge_minutes, 0.0)",
            f"{sign}({row}.acknowledge_minutes IS NOT NULL){flag}",
            *(f"{sign}({row}.max_escalation_level >= {level}){flag}" for level in (2, 3, 4)),
        )
    )


INSERT = f"INSERT INTO ended_alert_deltas ({', '.join(KEY + MEASURES)})"


def _sums() -> list[sa.Column[object]]:
    return [
        sa.Column("day", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("alert_type", sa.String(length=200), nullable=False),
        *(
            sa.Column(name, sa.Double() if name.endswith("_sum") else sa.BigInteger(), nullable=False)
            for name in MEASURES
        ),
    ]


def _postgresql_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)
    return [
        f"""
        CREATE FUNCTION ended_alert_delta() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' AND OLD.status IN {ENDED} THEN
                {INSERT} VALUES ({", ".join(_values("postgresql", "OLD", "-"))});
            END IF;
            IF TG_OP <> 'DELETE' AND NEW.status IN {ENDED} THEN
                {INSERT} VALUES ({", ".join(_values("postgresql", "NEW", ""))});
            END IF;
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER ended_alert_inserted AFTER INSERT ON alerts FOR EACH ROW "
        f"WHEN (NEW.status IN {ENDED}) EXECUTE FUNCTION ended_alert_delta()",
        "CREATE TRIGGER ended_alert_updated AFTER UPDATE ON alerts FOR EACH ROW "
        f"WHEN ((OLD.status IN {ENDED} OR NEW.status IN {ENDED}) AND ({changed})) "
        "EXECUTE FUNCTION ended_alert_delta()",
        "CREATE TRIGGER ended_alert_deleted AFTER DELETE ON alerts FOR EACH ROW "
        f"WHEN (OLD.status IN {ENDED}) EXECUTE FUNCTION ended_alert_delta()",
    ]


def _sqlite_triggers() -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in WATCHED)
    old = f"{INSERT} SELECT {', '.join(_values('sqlite', 'OLD', '-'))} WHERE OLD.status IN {ENDED};"
    new = f"{INSERT} SELECT {', '.join(_values('sqlite', 'NEW', ''))} WHERE NEW.status IN {ENDED};"
    return [
        f"CREATE TRIGGER ended_alert_inserted AFTER INSERT ON alerts FOR EACH ROW "
        f"WHEN NEW.status IN {ENDED} BEGIN {new} END",
        f"CREATE TRIGGER ended_alert_updated AFTER UPDATE ON alerts FOR EACH ROW "
        f"WHEN (OLD.status IN {ENDED} OR NEW.status IN {ENDED}) AND ({changed}) BEGIN {old} {new} END",
        f"CREATE TRIGGER ended_alert_deleted AFTER DELETE ON alerts FOR EACH ROW "
        f"WHEN OLD.status IN {ENDED} BEGIN {old} END",
    ]


def backfill_sql(dialect: str) -> list[str]:
    """The sums of the ended alerts there are, by day and over all time
    (also used by bench/scale_bench.py)."""
    values = _values(dialect, "alerts", "")
    key, measures = values[: len(KEY)], values[len(KEY) :]
    by_day = (
        f"INSERT INTO ended_alert_sums ({', '.join(KEY + MEASURES)}) "
        f"SELECT {', '.join(key)}, {', '.join(f'sum({m})' for m in measures)} "
        f"FROM alerts WHERE status IN {ENDED} GROUP BY {', '.join(key)}"
    )
    totals = (
        f"INSERT INTO ended_alert_totals ({', '.join(KEY[1:] + MEASURES)}) "
        f"SELECT {', '.join(KEY[1:])}, {', '.join(f'sum({m})' for m in MEASURES)} "
        "FROM ended_alert_sums GROUP BY " + ", ".join(KEY[1:])
    )
    return [by_day, totals]


def upgrade() -> None:
    op.create_table(
        "ended_alert_sums",
        *_sums(),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_ended_alert_sums")),
    )
    op.create_table(
        "ended_alert_totals",
        *_sums()[1:],
        sa.PrimaryKeyConstraint(*KEY[1:], name=op.f("pk_ended_alert_totals")),
    )
    op.create_table(
        "ended_alert_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ended_alert_deltas")),
    )
    dialect = op.get_bind().dialect.name
    for statement in _postgresql_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    for statement in backfill_sql(dialect):
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("ended_alert_inserted", "ended_alert_updated", "ended_alert_deleted"):
        op.execute(
            f"DROP TRIGGER {trigger} ON alerts"
            if op.get_bind().dialect.name == "postgresql"
            else f"DROP TRIGGER {trigger}"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ended_alert_delta()")
    op.drop_table("ended_alert_deltas")
    op.drop_table("ended_alert_totals")
    op.drop_table("ended_alert_sums")
