"""teams: every alert belongs to one; identity is (team, fingerprint); silences may be one team's

Revision ID: 0007_teams
Revises: 0006_text_search
Create Date: 2026-11-30 14:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_teams"
down_revision: str | None = "0006_text_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('open', 'acknowledged', 'in_progress', 'reopened') AND deduplicated = true"


def upgrade() -> None:
    # Existing alerts belong to the default team: a deployment whose keys
    # name no team goes on exactly as before.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team", sa.String(length=64), server_default="default", nullable=False))
        batch_op.drop_index("uq_alerts_active_fingerprint")
        batch_op.drop_index("ix_alerts_fingerprint_first_seen_at")
        batch_op.create_index(
            "uq_alerts_active_team_fingerprint",
            ["team", "fingerprint"],
            unique=True,
            postgresql_where=sa.text(ACTIVE),
            sqlite_where=sa.text(ACTIVE),
        )
        batch_op.create_index(
            "ix_alerts_team_fingerprint_first_seen_at", ["team", "fingerprint", "first_seen_at"], unique=False
        )
        batch_op.create_index("ix_alerts_team_first_seen_at_id", ["team", "first_seen_at", "id"], unique=False)
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.drop_column("team")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_team_first_seen_at_id")
        batch_op.drop_index("ix_alerts_team_fingerprint_first_seen_at")
        batch_op.drop_index("uq_alerts_active_team_fingerprint")
        batch_op.create_index(
            "uq_alerts_active_fingerprint",
            ["fingerprint"],
            unique=True,
            postgresql_where=sa.text(ACTIVE),
            sqlite_where=sa.text(ACTIVE),
        )
        batch_op.create_index(
            "ix_alerts_fingerprint_first_seen_at", ["fingerprint", "first_seen_at"], unique=False
        )
        batch_op.drop_column("team")
