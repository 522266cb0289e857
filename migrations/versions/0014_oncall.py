"""on call: users and their teams, schedules with inline layers, overrides

Revision ID: 0014_oncall
Revises: 0013_flood_control
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0014_oncall"
down_revision: str | None = "0013_flood_control"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, app.db.types.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("contact_methods", app.db.types.JSONType, nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("uq_users_name", "users", ["name"], unique=True)
    op.create_table(
        "user_teams",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_teams_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "team", name=op.f("pk_user_teams")),
    )
    op.create_index("ix_user_teams_team", "user_teams", ["team"])
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("layers", app.db.types.JSONType, nullable=False),
        sa.Column("calendar_key", sa.String(length=64), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index("uq_schedules_team_name", "schedules", ["team", "name"], unique=True)
    op.create_table(
        "schedule_overrides",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _when("created_at"),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_schedule_overrides_window")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_overrides_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_schedule_overrides_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_overrides")),
    )
    op.create_index(
        "ix_schedule_overrides_schedule_id_ends_at", "schedule_overrides", ["schedule_id", "ends_at"]
    )
    op.create_index("ix_schedule_overrides_user_id", "schedule_overrides", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_schedule_overrides_user_id", "schedule_overrides")
    op.drop_index("ix_schedule_overrides_schedule_id_ends_at", "schedule_overrides")
    op.drop_table("schedule_overrides")
    op.drop_index("uq_schedules_team_name", "schedules")
    op.drop_table("schedules")
    op.drop_index("ix_user_teams_team", "user_teams")
    op.drop_table("user_teams")
    op.drop_index("uq_users_name", "users")
    op.drop_table("users")
