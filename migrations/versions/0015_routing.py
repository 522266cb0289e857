"""on call, routing: escalation policies and routes per team; an alert's
policy and step; a person's notifications

Routes choose a new alert's escalation policy and channels; a policy's steps
notify channels, schedules and users. A notification to a person names the
user and the address of their contact method.

Revision ID: 0015_routing
Revises: 0014_oncall
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0015_routing"
down_revision: str | None = "0014_oncall"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, app.db.types.UTCDateTime(timezone=True), nullable=False)


def _partial(column: str) -> dict[str, sa.TextClause]:
    where = sa.text(f"{column} IS NOT NULL")
    return {"postgresql_where": where, "sqlite_where": where}


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("steps", app.db.types.JSONType, nullable=False),
        sa.Column("repeat_last_step", sa.Integer(), nullable=False),
        sa.Column("repeat_every_minutes", sa.Double(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
    )
    op.create_index("uq_escalation_policies_team_name", "escalation_policies", ["team", "name"], unique=True)
    op.create_table(
        "routes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("matchers", app.db.types.JSONType, nullable=False),
        sa.Column("escalation_policy_id", sa.Uuid(), nullable=True),
        sa.Column("channels", app.db.types.JSONType, nullable=False),
        sa.Column("continue_matching", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["escalation_policy_id"],
            ["escalation_policies.id"],
            name=op.f("fk_routes_escalation_policy_id_escalation_policies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
    )
    op.create_index("uq_routes_team_name", "routes", ["team", "name"], unique=True)
    op.create_index("ix_routes_team_position", "routes", ["team", "position"])
    op.create_index("ix_routes_escalation_policy_id", "routes", ["escalation_policy_id"])
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_policy_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("escalation_step", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_escalation_policy_id_escalation_policies"),
            "escalation_policies",
            ["escalation_policy_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_alerts_escalation_policy_id", ["escalation_policy_id"], **_partial("escalation_policy_id")
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("recipient", sa.String(length=500), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_notifications_user_id_users"), "users", ["user_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_notifications_user_id", ["user_id"], **_partial("user_id"))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id")
        batch_op.drop_constraint(batch_op.f("fk_notifications_user_id_users"), type_="foreignkey")
        batch_op.drop_column("recipient")
        batch_op.drop_column("user_id")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_escalation_policy_id")
        batch_op.drop_constraint(
            batch_op.f("fk_alerts_escalation_policy_id_escalation_policies"), type_="foreignkey"
        )
        batch_op.drop_column("escalation_step")
        batch_op.drop_column("escalation_policy_id")
    op.drop_index("ix_routes_escalation_policy_id", "routes")
    op.drop_index("ix_routes_team_position", "routes")
    op.drop_index("uq_routes_team_name", "routes")
    op.drop_table("routes")
    op.drop_index("uq_escalation_policies_team_name", "escalation_policies")
    op.drop_table("escalation_policies")
