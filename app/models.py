"""ORM tables. Migrations in migrations/ are the source of truth for the
schema; a test checks these models and the migrations agree."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db.types import JSONType, UTCDateTime

ACTIVE_STATUSES: tuple[str, ...] = ("open", "acknowledged", "in_progress", "reopened")
STATUSES: tuple[str, ...] = (*ACTIVE_STATUSES, "resolved", "closed")
NOTIFICATION_STATUSES: tuple[str, ...] = ("pending", "sending", "sent", "failed", "silenced", "folded")

_ACTIVE_SQL = "status IN ('open', 'acknowledged', 'in_progress', 'reopened')"
_DEDUP_SQL = f"{_ACTIVE_SQL} AND deduplicated = true"
_DUE_SQL = "status IN ('pending', 'sending')"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType}


# Integer on SQLite, so that the primary key is the rowid and autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The team that owns the alert: the creating key's. Identity for
    # deduplication is (team, fingerprint).
    team: Mapped[str] = mapped_column(String(64), default="default", server_default="default")
    fingerprint: Mapped[str] = mapped_column(String(255))
    alert_type: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    channels: Mapped[list[str]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20))
    escalation_level: Mapped[int] = mapped_column(Integer, default=1)
    max_escalation_level: Mapped[int] = mapped_column(Integer, default=1)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    suppressed_count: Mapped[int] = mapped_column(Integer, default=0)
    # Suppressed duplicates since the last notification: every
    # suppression_threshold-th forces one, then this restarts at zero.
    suppressed_streak: Mapped[int] = mapped_column(Integer, default=0)
    notifications_sent: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    triggered_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    resolution_minutes: Mapped[float | None]
    # acknowledged_at - triggered_at, kept like resolution_minutes so that
    # /stats can take its percentiles from an index.
    acknowledge_minutes: Mapped[float | None]
    closed_at: Mapped[datetime | None]
    policy: Mapped[str] = mapped_column(String(100), default="default")
    # False for alerts created while deduplication was off: they never merge,
    # so they stay outside the one-active-alert-per-fingerprint index.
    deduplicated: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why the last submission notified (new, repeated, window, severity,
    # reopened), or NULL when it was suppressed.
    last_notify_reason: Mapped[str | None] = mapped_column(String(20))
    # When the current level was reached or last repeated: repeats count from here.
    escalated_at: Mapped[datetime | None]
    # When the escalation ticker must next look at this alert; NULL = never.
    # Not indexed: triggers copy it to escalation_due (EscalationDue), so
    # that a step, which moves it, changes no indexed column of this table.
    next_escalation_at: Mapped[datetime | None]
    # The team's escalation policy its route chose when it was created
    # (services/oncall/routing.py); NULL: the configured [escalation] policy.
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    # Steps of that policy done since triggered_at, repeats of the last included.
    escalation_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(
            _in("severity", ("info", "low", "medium", "high", "critical")),
            name="severity",
        ),
        CheckConstraint("escalation_level BETWEEN 1 AND 4", name="escalation_level"),
        # At most one active alert per team and fingerprint: the database, not the
        # application, decides the race between simultaneous submissions.
        Index(
            "uq_alerts_active_team_fingerprint",
            "team",
            "fingerprint",
            unique=True,
            postgresql_where=text(_DEDUP_SQL),
            sqlite_where=text(_DEDUP_SQL),
        ),
        # An identity's history, newest last. Not on last_seen_at: a duplicate
        # changes only columns no index holds (last_seen_at, occurrences,
        # details...; the message too when it repeats), so PostgreSQL updates the row in place on its
        # page (a HOT update) instead of adding an entry to every index.
        Index("ix_alerts_team_fingerprint_first_seen_at", "team", "fingerprint", "first_seen_at"),
        # Keyset paging: newest first, optionally within one filter column.
        Index("ix_alerts_first_seen_at_id", "first_seen_at", "id"),
        Index("ix_alerts_team_first_seen_at_id", "team", "first_seen_at", "id"),
        Index("ix_alerts_status_first_seen_at_id", "status", "first_seen_at", "id"),
        Index("ix_alerts_severity_first_seen_at_id", "severity", "first_seen_at", "id"),
        Index("ix_alerts_alert_type_first_seen_at_id", "alert_type", "first_seen_at", "id"),
        Index("ix_alerts_source_first_seen_at_id", "source", "first_seen_at", "id"),
        Index(
            "ix_alerts_resolution_minutes",
            "resolution_minutes",
            postgresql_where=text("resolution_minutes IS NOT NULL"),
            sqlite_where=text("resolution_minutes IS NOT NULL"),
        ),
        Index(
            "ix_alerts_acknowledge_minutes",
            "acknowledge_minutes",
            postgresql_where=text("acknowledge_minutes IS NOT NULL"),
            sqlite_where=text("acknowledge_minutes IS NOT NULL"),
        ),
        # A page of active alerts of one status and type (migration 0019): the
        # active alerts only, and no column a duplicate changes.
        Index(
            "ix_alerts_active_status_type",
            "status",
            "alert_type",
            "first_seen_at",
            "id",
            postgresql_where=text(_ACTIVE_SQL),
            sqlite_where=text(_ACTIVE_SQL),
        ),
        # Housekeeping deletes closed alerts by age (migration 0017).
        Index(
            "ix_alerts_closed_at",
            "closed_at",
            postgresql_where=text("status = 'closed'"),
            sqlite_where=text("status = 'closed'"),
        ),
        # Deleting a policy sets its alerts' reference to NULL through this index.
        Index(
            "ix_alerts_escalation_policy_id",
            "escalation_policy_id",
            postgresql_where=text("escalation_policy_id IS NOT NULL"),
            sqlite_where=text("escalation_policy_id IS NOT NULL"),
        ),
        # GET /alerts?label=k=v: containment on PostgreSQL (migration 0005).
        Index(
            "ix_alerts_labels", "labels", postgresql_using="gin", postgresql_ops={"labels": "jsonb_path_ops"}
        ),
        # GET /alerts?q=text: trigram indexes, on PostgreSQL only (migration
        # 0006). A duplicate that changes the message is therefore not a HOT
        # update; one that repeats it still is.
        *(
            Index(
                f"ix_alerts_{column}_trgm",
                column,
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql")
            for column in ("message", "alert_type", "source")
        ),
        # Room on each page for those in-place updates.
        {"postgresql_with": {"fillfactor": 85}},
    )

    def reopen(self, *, now: datetime) -> None:
        """Back to active with a fresh escalation clock (level 1, no step of
        its policy done, no repeat counted from before); the history keeps
        the past."""
        self.status = "reopened"
        self.triggered_at = now
        self.escalation_level = 1
        self.escalation_step = 0
        self.escalated_at = None
        self.acknowledged_at = self.acknowledged_by = self.acknowledge_minutes = None
        self.resolved_at = self.resolved_by = self.resolution_notes = None
        self.resolution_minutes = None
        self.closed_at = None
        self.suppressed_streak = 0


class EscalationDue(Base):
    """When each alert with a next_escalation_at is due: the ticker's queue,
    kept by triggers on alerts from alerts.next_escalation_at (migration
    0022), in the writing transaction, whichever path wrote it. A row of
    its own, so that moving an alert's due time rewrites this small row and
    its two index entries, not an entry in each of the alerts table's
    indexes (its update stays on the page: HOT)."""

    __tablename__ = "escalation_due"

    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime]

    __table_args__ = (Index("ix_escalation_due_due_at", "due_at"),)


class AlertEvent(Base):
    """One entry of an alert's history: who did what, when, from which state."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    __table_args__ = (
        Index("ix_alert_events_alert_id_id", "alert_id", "id"),
        # /stats: reopened alerts and escalations by time, without a scan.
        Index(
            "ix_alert_events_reopened",
            "alert_id",
            postgresql_where=text("to_status = 'reopened'"),
            sqlite_where=text("to_status = 'reopened'"),
        ),
        Index(
            "ix_alert_events_escalations",
            "at",
            postgresql_where=text("kind = 'escalation'"),
            sqlite_where=text("kind = 'escalation'"),
        ),
    )


class OutboxRow(Base):
    """The outbox: a row per notification, written with the change that caused it."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(20))
    level: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None]
    # A person's notification (an escalation step that named a schedule or a
    # user): the user, and the address of their contact method, which
    # replaces the channel's own recipients.
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    recipient: Mapped[str | None] = mapped_column(String(500))
    # The silence holding a `silenced` row until it ends (see services/silences.py).
    silence_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("silences.id", ondelete="SET NULL"))
    # Flood control (services/flood.py): a `folded` row points at the digest
    # that carries it; a digest row names the clock minute it folds, one
    # digest per channel and minute (the unique constraint below).
    digest_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("notifications.id", ondelete="SET NULL")
    )
    window_start: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status"),
        UniqueConstraint("channel", "window_start"),
        Index("ix_notifications_digest_id", "digest_id"),
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=text(_DUE_SQL),
            sqlite_where=text(_DUE_SQL),
        ),
        Index("ix_notifications_alert_id", "alert_id"),
        Index("ix_notifications_channel_status", "channel", "status"),
        # Latency figures per channel read this index only.
        Index(
            "ix_notifications_sent_latency",
            "channel",
            "duration_ms",
            postgresql_where=text("status = 'sent'"),
            sqlite_where=text("status = 'sent'"),
        ),
        Index("ix_notifications_silence_id", "silence_id"),
        Index(
            "ix_notifications_user_id",
            "user_id",
            postgresql_where=text("user_id IS NOT NULL"),
            sqlite_where=text("user_id IS NOT NULL"),
        ),
        # Unsent rows are few; /stats counts them per channel and status here.
        Index(
            "ix_notifications_unsent",
            "channel",
            "status",
            postgresql_where=text("status <> 'sent'"),
            sqlite_where=text("status <> 'sent'"),
        ),
        # The sent rows of a window by time, index-only (the console's stats page).
        Index(
            "ix_notifications_sent_created_at",
            "created_at",
            "channel",
            "duration_ms",
            postgresql_where=text("status = 'sent'"),
            sqlite_where=text("status = 'sent'"),
        ),
    )


class ChannelState(Base):
    """What a channel's deliveries share across replicas: a pause a provider
    asked for (a rate limit), and flood control's count of the individual
    notifications started in the current clock minute."""

    __tablename__ = "channel_states"

    channel: Mapped[str] = mapped_column(String(100), primary_key=True)
    paused_until: Mapped[datetime | None]
    window_start: Mapped[datetime | None]
    window_sent: Mapped[int] = mapped_column(Integer, default=0)


class Silence(Base):
    """A maintenance window: matching alerts are recorded, their notifications held."""

    __tablename__ = "silences"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # [{"name": "alert_type" | "source" | "severity" | "labels.<key>", "value": ..., "is_regex": bool}]
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # The team whose alerts it holds; NULL holds every team's (made by a
    # key of every team, team = "*").
    team: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Set once the held notifications of an ended silence have been released;
    # the guard that makes replicas release each silence once.
    released_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("ends_at >= starts_at", name="window"),
        Index(
            "ix_silences_unreleased_ends_at",
            "ends_at",
            postgresql_where=text("released_at IS NULL"),
            sqlite_where=text("released_at IS NULL"),
        ),
    )


class SilenceGeneration(Base):
    """One row (id 1): a number that every transaction changing silences
    moves, so that a process learns with one look-up whether the silences it
    compiled are still current (services/silence_match.py)."""

    __tablename__ = "silence_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)


class ServiceSecret(Base):
    """A secret the service made for itself, shared by every replica: made
    once by whichever process needs it first (db/secrets.py)."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


HEARTBEAT_STATES: tuple[str, ...] = ("up", "late")


class Heartbeat(Base):
    """A dead man's switch: a job beats, and no beat within `timeout_seconds`
    opens a `heartbeat_missed` alert (services/heartbeats.py)."""

    __tablename__ = "heartbeats"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The beating key's team; a name is unique within its team.
    team: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    timeout_seconds: Mapped[float]
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The missed alert's message; NULL: "no heartbeat from <name> for <timeout>".
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_beat_at: Mapped[datetime]
    # last_beat_at + timeout_seconds, written with them: the check reads an
    # index range instead of doing date arithmetic in SQL on two dialects.
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    # The missed alert this heartbeat opened and its next beat resolves.
    alert_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("alerts.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint(_in("state", HEARTBEAT_STATES), name="state"),
        CheckConstraint(_in("severity", ("info", "low", "medium", "high", "critical")), name="severity"),
        Index("uq_heartbeats_team_name", "team", "name", unique=True),
        Index(
            "ix_heartbeats_up_due_at",
            "due_at",
            postgresql_where=text("state = 'up'"),
            sqlite_where=text("state = 'up'"),
        ),
        Index("ix_heartbeats_alert_id", "alert_id"),
    )


# --- on call: people and schedules (services/oncall/) ---------------------------------


class User(Base):
    """A person who can be on call. `name` is unique, so that rules can name
    a user (`user:<name>`); the teams are in user_teams."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str | None] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    # [{"type": "email" | "sms" | ..., "address": ...}], in the order to try them.
    contact_methods: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # Signed into the link of the user's own calendar feed (services/oncall/
    # calendar.py); a new key revokes every link made before. NULL: none yet.
    calendar_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("uq_users_name", "name", unique=True),)


class UserTeam(Base):
    """A user's membership of a team: one or more per user."""

    __tablename__ = "user_teams"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_user_teams_team", "team"),)


class OncallSchedule(Base):
    """A team's on-call schedule: its zone and its rotation layers, inline
    (services/oncall/shifts.py reads them)."""

    __tablename__ = "schedules"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    team: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(String(64))
    # Bottom layer first: [{"name", "participants": [user id], "shift_length",
    # "shift_unit", "handoff_time", "start_date", "restrictions": [...]}]
    layers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # Signed into the calendar feed's link (services/oncall/calendar.py); a
    # new key revokes every link made before. NULL: no link made yet.
    calendar_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("uq_schedules_team_name", "team", "name", unique=True),)


class ScheduleOverride(Base):
    """`user_id` covers the schedule from `starts_at` to `ends_at`, over every
    layer; of two overlapping overrides the later made wins."""

    __tablename__ = "schedule_overrides"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    schedule_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_schedule_overrides_schedule_id_ends_at", "schedule_id", "ends_at"),
        Index("ix_schedule_overrides_user_id", "user_id"),
    )


class EscalationPolicy(Base):
    """A team's escalation policy: steps, each `after_minutes` since the alert
    triggered, notifying its targets (channel names, `schedule:<name>`,
    `user:<name>`); the last step repeats `repeat_last_step` times, every
    `repeat_every_minutes`."""

    __tablename__ = "escalation_policies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    team: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # [{"after_minutes": float, "notify": [target, ...]}], in order.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    repeat_last_step: Mapped[int] = mapped_column(Integer, default=0)
    repeat_every_minutes: Mapped[float | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("uq_escalation_policies_team_name", "team", "name", unique=True),)


class Route(Base):
    """One of a team's routes, tried in `position` order: when its matchers
    (the silences' syntax) all match a new alert, it chooses the alert's
    escalation policy and channels; the first match wins unless it says
    `continue_matching`."""

    __tablename__ = "routes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    team: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    # [{"name", "value", "is_regex"}]; none: the route matches every alert.
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    escalation_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("escalation_policies.id", ondelete="RESTRICT")
    )
    channels: Mapped[list[str]] = mapped_column(JSONType)
    continue_matching: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_routes_team_name", "team", "name", unique=True),
        Index("ix_routes_team_position", "team", "position"),
        Index("ix_routes_escalation_policy_id", "escalation_policy_id"),
    )


class ChannelMessage(Base):
    """What a channel posted about an alert and asked to keep, to edit it
    later: a Slack app's message (its channel id and ts). One per alert and
    channel, replaced when a delivery posts anew; written with the delivery's
    result and read with the next claim (db/channel_messages.py)."""

    __tablename__ = "channel_messages"

    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The provider's reference, as the adapter returned it.
    reference: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime]


class SeenRequest(Base):
    """A signed request already taken (a Slack button's), kept while its
    timestamp would still be accepted, so that a replay is refused by every
    replica (services/slack_actions.py)."""

    __tablename__ = "seen_requests"

    signature: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime]

    __table_args__ = (Index("ix_seen_requests_seen_at", "seen_at"),)


class _EndedSums:
    """The figures of ended alerts with one ([day,] team, status, severity,
    alert_type): what GET /stats needs of them (db/ended_sums.py)."""

    team: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(16))
    alert_type: Mapped[str] = mapped_column(String(200))
    alerts: Mapped[int] = mapped_column(BigInteger)
    occurrences: Mapped[int] = mapped_column(BigInteger)
    suppressed: Mapped[int] = mapped_column(BigInteger)
    resolution_sum: Mapped[float]
    resolution_count: Mapped[int] = mapped_column(BigInteger)
    ack_sum: Mapped[float]
    ack_count: Mapped[int] = mapped_column(BigInteger)
    reached_2: Mapped[int] = mapped_column(BigInteger)
    reached_3: Mapped[int] = mapped_column(BigInteger)
    reached_4: Mapped[int] = mapped_column(BigInteger)


class EndedAlertSums(_EndedSums, Base):
    """Sums of the ended alerts of a day (by first_seen_at, UTC) and kind;
    written only by housekeeping, which folds the deltas in."""

    __tablename__ = "ended_alert_sums"

    day: Mapped[datetime] = mapped_column(primary_key=True)
    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    alert_type: Mapped[str] = mapped_column(String(200), primary_key=True)


class EndedAlertTotals(_EndedSums, Base):
    """The same sums over all time: what a period without bounds reads."""

    __tablename__ = "ended_alert_totals"

    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    alert_type: Mapped[str] = mapped_column(String(200), primary_key=True)


class EndedAlertDelta(_EndedSums, Base):
    """One change to those sums, signed: written by triggers on `alerts`
    (migration 0016) in the transaction that made it, whichever path did."""

    __tablename__ = "ended_alert_deltas"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[datetime]


class _DurationBuckets:
    """How many alerts of a team took a bucket's minutes to resolve or to
    acknowledge (db/duration_buckets.py)."""

    measure: Mapped[str] = mapped_column(String(16))  # resolution | acknowledge
    team: Mapped[str] = mapped_column(String(64))
    bucket: Mapped[int] = mapped_column(BigInteger)
    alerts: Mapped[int] = mapped_column(BigInteger)


class DurationBucketTotals(_DurationBuckets, Base):
    """The counts over all time; written only by housekeeping, which folds
    the deltas in."""

    __tablename__ = "duration_bucket_totals"

    measure: Mapped[str] = mapped_column(String(16), primary_key=True)
    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class DurationBucketDelta(_DurationBuckets, Base):
    """One change to those counts, signed: written by triggers on `alerts`
    (migration 0018) in the transaction that made it."""

    __tablename__ = "duration_bucket_deltas"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class _NotificationSums:
    """The figures of the notifications with one ([day,] channel): counts per
    status (pending counts sending too) and the latency of the sent ones
    (db/notification_sums.py)."""

    channel: Mapped[str] = mapped_column(String(100))
    sent: Mapped[int] = mapped_column(BigInteger)
    failed: Mapped[int] = mapped_column(BigInteger)
    pending: Mapped[int] = mapped_column(BigInteger)
    silenced: Mapped[int] = mapped_column(BigInteger)
    folded: Mapped[int] = mapped_column(BigInteger)
    latency_sum: Mapped[float]
    latency_count: Mapped[int] = mapped_column(BigInteger)


class NotificationSums(_NotificationSums, Base):
    """Sums of the notifications created on a day (UTC) to a channel;
    written only by housekeeping, which folds the deltas in."""

    __tablename__ = "notification_sums"

    day: Mapped[datetime] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(100), primary_key=True)


class NotificationTotals(_NotificationSums, Base):
    """The same sums over all time: what GET /channels reads."""

    __tablename__ = "notification_totals"

    channel: Mapped[str] = mapped_column(String(100), primary_key=True)


class NotificationDelta(_NotificationSums, Base):
    """One change to those sums, signed: written by triggers on
    `notifications` (migration 0021) in the transaction that made it."""

    __tablename__ = "notification_deltas"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[datetime]
