"""users.calendar_key: a person's own calendar feed across their schedules

Signed into the link of a user's calendar feed (services/oncall/calendar.py),
as schedules.calendar_key is into a schedule's; a new key revokes every link
made before. NULL: no link made yet.

Revision ID: 0020_user_calendar
Revises: 0019_active_alerts_by_type
Create Date: 2026-12-01 02:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_user_calendar"
down_revision: str | None = "0019_active_alerts_by_type"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("calendar_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("calendar_key")
