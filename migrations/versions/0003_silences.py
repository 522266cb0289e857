"""silences, and the outbox rows they hold

Revision ID: 0003_silences
Revises: 0002_stats
Create Date: 2026-11-28 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db.types
from sqlalchemy.dialects import postgresql

revision: str = '0003_silences'
down_revision: str | None = '0002_stats'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('silences',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('matchers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('starts_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('ends_at >= starts_at', name=op.f('ck_silences_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_silences'))
    )
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.create_index('ix_silences_unreleased_ends_at', ['ends_at'], unique=False, postgresql_where=sa.text('released_at IS NULL'), sqlite_where=sa.text('released_at IS NULL'))

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('silence_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_notifications_silence_id_silences'), 'silences', ['silence_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_notifications_silence_id', ['silence_id'], unique=False)

def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_silence_id')
        batch_op.drop_constraint(op.f('fk_notifications_silence_id_silences'), type_='foreignkey')
        batch_op.drop_column('silence_id')
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.drop_index('ix_silences_unreleased_ends_at', postgresql_where=sa.text('released_at IS NULL'), sqlite_where=sa.text('released_at IS NULL'))

    op.drop_table('silences')
