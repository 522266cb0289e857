"""GET /alerts?q=... reads trigram indexes of message, alert_type and source on PostgreSQL

Revision ID: 0006_text_search
Revises: 0005_labels_index
Create Date: 2026-11-30 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_text_search"
down_revision: str | None = "0005_labels_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("message", "alert_type", "source")


def upgrade() -> None:
    # `q` is a case-insensitive substring (ILIKE '%...%'), which a B-tree
    # cannot serve; pg_trgm's GIN operator class can, for three characters or
    # more. pg_trgm is a trusted extension: the database's owner may create it.
    # SQLite scans; it has no such index and its tables are small.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        op.execute(f"CREATE INDEX ix_alerts_{column}_trgm ON alerts USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"DROP INDEX ix_alerts_{column}_trgm")
