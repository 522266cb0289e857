"""alerts, events and the notification outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 22:52:07.141923
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import app.db.types
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('fingerprint', sa.String(length=255), nullable=False),
    sa.Column('alert_type', sa.String(length=200), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('channels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('max_escalation_level', sa.Integer(), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('suppressed_count', sa.Integer(), nullable=False),
    sa.Column('suppressed_streak', sa.Integer(), nullable=False),
    sa.Column('notifications_sent', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('triggered_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.Column('resolution_notes', sa.Text(), nullable=True),
    sa.Column('resolution_minutes', sa.Double(), nullable=True),
    sa.Column('closed_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('policy', sa.String(length=100), nullable=False),
    sa.Column('deduplicated', sa.Boolean(), nullable=False),
    sa.Column('escalated_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_escalation_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("severity IN ('info', 'low', 'medium', 'high', 'critical')", name=op.f('ck_alerts_severity')),
    sa.CheckConstraint("status IN ('open', 'acknowledged', 'in_progress', 'reopened', 'resolved', 'closed')", name=op.f('ck_alerts_status')),
    sa.CheckConstraint('escalation_level BETWEEN 1 AND 4', name=op.f('ck_alerts_escalation_level')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_alert_type_first_seen_at_id', ['alert_type', 'first_seen_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_fingerprint_last_seen_at', ['fingerprint', 'last_seen_at'], unique=False)
        batch_op.create_index('ix_alerts_first_seen_at_id', ['first_seen_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_next_escalation_at', ['next_escalation_at'], unique=False, postgresql_where=sa.text('next_escalation_at IS NOT NULL'), sqlite_where=sa.text('next_escalation_at IS NOT NULL'))
        batch_op.create_index('ix_alerts_severity_first_seen_at_id', ['severity', 'first_seen_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_source_first_seen_at_id', ['source', 'first_seen_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_status_first_seen_at_id', ['status', 'first_seen_at', 'id'], unique=False)
        batch_op.create_index('uq_alerts_active_fingerprint', ['fingerprint'], unique=True, postgresql_where=sa.text("status IN ('open', 'acknowledged', 'in_progress', 'reopened') AND deduplicated = true"), sqlite_where=sa.text("status IN ('open', 'acknowledged', 'in_progress', 'reopened') AND deduplicated = true"))

    op.create_table('alert_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.Uuid(), nullable=False),
    sa.Column('at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_events_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events'))
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index('ix_alert_events_alert_id_id', ['alert_id', 'id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('alert_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Double(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'silenced')", name=op.f('ck_notifications_status')),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_notifications_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_alert_id', ['alert_id'], unique=False)
        batch_op.create_index('ix_notifications_channel_status', ['channel', 'status'], unique=False)
        batch_op.create_index('ix_notifications_due', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status IN ('pending', 'sending')"), sqlite_where=sa.text("status IN ('pending', 'sending')"))



def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_due', postgresql_where=sa.text("status IN ('pending', 'sending')"), sqlite_where=sa.text("status IN ('pending', 'sending')"))
        batch_op.drop_index('ix_notifications_channel_status')
        batch_op.drop_index('ix_notifications_alert_id')

    op.drop_table('notifications')
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_events_alert_id_id')

    op.drop_table('alert_events')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_alerts_active_fingerprint', postgresql_where=sa.text("status IN ('open', 'acknowledged', 'in_progress', 'reopened') AND deduplicated = true"), sqlite_where=sa.text("status IN ('open', 'acknowledged', 'in_progress', 'reopened') AND deduplicated = true"))
        batch_op.drop_index('ix_alerts_status_first_seen_at_id')
        batch_op.drop_index('ix_alerts_source_first_seen_at_id')
        batch_op.drop_index('ix_alerts_severity_first_seen_at_id')
        batch_op.drop_index('ix_alerts_next_escalation_at', postgresql_where=sa.text('next_escalation_at IS NOT NULL'), sqlite_where=sa.text('next_escalation_at IS NOT NULL'))
        batch_op.drop_index('ix_alerts_first_seen_at_id')
        batch_op.drop_index('ix_alerts_fingerprint_last_seen_at')
        batch_op.drop_index('ix_alerts_alert_type_first_seen_at_id')

    op.drop_table('alerts')
