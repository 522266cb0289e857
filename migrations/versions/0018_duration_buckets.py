"""stats: how many alerts took each whole number of minutes to resolve and to acknowledge

GET /stats over all time reads its median and p90 of resolution_minutes and
acknowledge_minutes at their ranks. An index has no ranks, so the read used to
step over half the index for a median: 0.6 s at ten million alerts. Counts per
(measure, team, bucket) let the reader find the bucket that holds a rank and
step only inside it (db/duration_buckets.py); the value read is still the
row's own, so the percentile is exact. Buckets are whole minutes under a day
and whole hours after it.

Triggers on `alerts` write the change of every insert, update and delete that
sets, changes or clears either measure (or moves the alert to another team)
as signed rows in `duration_bucket_deltas`, in the writing transaction,
whichever path wrote it; housekeeping folds them into `duration_bucket_totals`.
As with the ended alerts' sums (0016), a delta is an insert of its own, so
writers never wait on a shared row. A duplicate of an active alert changes
neither measure and writes nothing.

Revision ID: 0018_duration_buckets
Revises: 0017_closed_at
Create Date: 2026-12-01 02:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_duration_buckets"
down_revision: str | None = "0017_closed_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# measure -> the alerts column it counts
MEASURES = {"resolution": "resolution_minutes", "acknowledge": "acknowledge_minutes"}
INSERT = "INSERT INTO duration_bucket_deltas (measure, team, bucket, alerts)"
DAY = 1440  # minutes: whole minutes below it, whole hours above (db/duration_buckets.py)


def bucket_sql(dialect: str, value: str) -> str:
    """The bucket of `value` minutes, as db/duration_buckets.bucket computes it:
    truncation of IEEE doubles, the same on both databases and in Python."""
    if dialect == "postgresql":
        whole = "trunc({})::bigint"
    else:
        whole = "CAST({} AS INTEGER)"
    return (
        f"CASE WHEN {value} < 0 THEN 0 WHEN {value} < {DAY} THEN {whole.format(value)} "
        f"ELSE {DAY} + {whole.format(f'({value} - {DAY}) / 60')} END"
    )


def _postgresql_triggers() -> list[str]:
    statements = []
    for measure, column in MEASURES.items():
        changed = f"OLD.{column} IS DISTINCT FROM NEW.{column} OR OLD.team IS DISTINCT FROM NEW.team"
        statements += [
            f"""
            CREATE FUNCTION {measure}_bucket_delta() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'INSERT' AND OLD.{column} IS NOT NULL THEN
                    {INSERT} VALUES ('{measure}', OLD.team, {bucket_sql("postgresql", f"OLD.{column}")}, -1);
                END IF;
                IF TG_OP <> 'DELETE' AND NEW.{column} IS NOT NULL THEN
                    {INSERT} VALUES ('{measure}', NEW.team, {bucket_sql("postgresql", f"NEW.{column}")}, 1);
                END IF;
                RETURN NULL;
            END
            $$
            """,
            f"CREATE TRIGGER {measure}_bucket_inserted AFTER INSERT ON alerts FOR EACH ROW "
            f"WHEN (NEW.{column} IS NOT NULL) EXECUTE FUNCTION {measure}_bucket_delta()",
            f"CREATE TRIGGER {measure}_bucket_updated AFTER UPDATE ON alerts FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION {measure}_bucket_delta()",
            f"CREATE TRIGGER {measure}_bucket_deleted AFTER DELETE ON alerts FOR EACH ROW "
            f"WHEN (OLD.{column} IS NOT NULL) EXECUTE FUNCTION {measure}_bucket_delta()",
        ]
    return statements


def _sqlite_triggers() -> list[str]:
    statements = []
    for measure, column in MEASURES.items():
        old = (
            f"{INSERT} SELECT '{measure}', OLD.team, {bucket_sql('sqlite', f'OLD.{column}')}, -1 "
            f"WHERE OLD.{column} IS NOT NULL;"
        )
        new = (
            f"{INSERT} SELECT '{measure}', NEW.team, {bucket_sql('sqlite', f'NEW.{column}')}, 1 "
            f"WHERE NEW.{column} IS NOT NULL;"
        )
        statements += [
            f"CREATE TRIGGER {measure}_bucket_inserted AFTER INSERT ON alerts FOR EACH ROW "
            f"WHEN NEW.{column} IS NOT NULL BEGIN {new} END",
            f"CREATE TRIGGER {measure}_bucket_updated AFTER UPDATE ON alerts FOR EACH ROW "
            f"WHEN OLD.{column} IS NOT NEW.{column} OR OLD.team IS NOT NEW.team BEGIN {old} {new} END",
            f"CREATE TRIGGER {measure}_bucket_deleted AFTER DELETE ON alerts FOR EACH ROW "
            f"WHEN OLD.{column} IS NOT NULL BEGIN {old} END",
        ]
    return statements


def backfill_sql(dialect: str) -> list[str]:
    """The counts of the alerts there are (also used by bench/scale_bench.py)."""
    return [
        "INSERT INTO duration_bucket_totals (measure, team, bucket, alerts) "
        f"SELECT '{measure}', team, {bucket_sql(dialect, column)}, count(*) FROM alerts "
        f"WHERE {column} IS NOT NULL GROUP BY team, {bucket_sql(dialect, column)}"
        for measure, column in MEASURES.items()
    ]


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("alerts", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "duration_bucket_totals",
        *_columns(),
        sa.PrimaryKeyConstraint("measure", "team", "bucket", name=op.f("pk_duration_bucket_totals")),
    )
    op.create_table(
        "duration_bucket_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        *_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duration_bucket_deltas")),
    )
    dialect = op.get_bind().dialect.name
    for statement in _postgresql_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    for statement in backfill_sql(dialect):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for measure in MEASURES:
        for trigger in ("inserted", "updated", "deleted"):
            op.execute(
                f"DROP TRIGGER {measure}_bucket_{trigger}" + (" ON alerts" if postgresql else "")
            )
        if postgresql:
            op.execute(f"DROP FUNCTION {measure}_bucket_delta()")
    op.drop_table("duration_bucket_deltas")
    op.drop_table("duration_bucket_totals")
