"""The PostgreSQL ingest path: a submission in one statement, one round trip.

The rules are those of services/dedup.py, written as one INSERT ... ON
CONFLICT against the partial unique index of active fingerprints:

- no active alert: the row is inserted ('new'), with its 'created' event;
- an active alert: the conflict updates it in place, and the SET computes the
  decision from the row as it was: a higher severity ('severity', which also
  re-schedules escalation), a gap of a whole window ('window'), the
  threshold-th suppressed duplicate in a row ('repeated'), else suppressed;
- the notifications (and events) of that decision are inserted by the same
  statement, from data-modifying CTEs, so the change and its outbox rows
  commit together, as one statement in autocommit.

Two rare cases belong to the general path (services/alerts.py): an alert
resolved or closed within the window, which must be reopened, and any
silence in force, whose matchers decide per alert whether its notifications
are held. The statement then changes nothing and returns no row, and the
caller takes the general path. The tests of the dedup rules run against this
path on PostgreSQL and against the general path on SQLite.

Why asyncpg directly, on a pool of its own: this is the hot path of a burst,
and the statement is fixed. asyncpg prepares it once per connection and
decodes the row itself; going through SQLAlchemy's execution and result
machinery cost about a third of the request's CPU (profiled with py-spy).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.models import ACTIVE_STATUSES
from app.services.escalation import level_offsets, repeat_interval
from app.settings import SEVERITIES, EscalationPolicy, Settings

_ACTIVE = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)
_RANK = "CASE {} " + " ".join(f"WHEN '{name}' THEN {rank}" for rank, name in enumerate(SEVERITIES)) + " END"
_RAISE = f"({_RANK.format('EXCLUDED.severity')} > {_RANK.format('a.severity')})"
# $2 now, $3 window, $14 suppression threshold
_REASON = f"""CASE
    WHEN {_RAISE} THEN 'severity'
    WHEN $2::timestamptz - a.last_seen_at >= $3::interval THEN 'window'
    WHEN a.suppressed_streak + 1 >= $14::int THEN 'repeated'
END"""
# $17..$20: minutes to the next level from levels 1..4; $21..$24: repeat minutes at levels 1..4
_RESCHEDULE = (
    "CASE WHEN a.status NOT IN ('open', 'reopened') THEN NULL ELSE CASE a.escalation_level "
    + " ".join(
        f"WHEN {level} THEN LEAST(a.triggered_at + ${16 + level}::float8 * interval '1 minute', "
        f"COALESCE(a.escalated_at, a.triggered_at) + ${20 + level}::float8 * interval '1 minute')"
        for level in (1, 2, 3, 4)
    )
    + " END END"
)
RETURNED = (
    "id", "fingerprint", "alert_type", "severity", "message", "source", "labels", "details", "channels",
    "status", "escalation_level", "max_escalation_level", "occurrences", "suppressed_count",
    "notifications_sent", "first_seen_at", "last_seen_at", "triggered_at", "acknowledged_at",
    "acknowledged_by", "resolved_at", "resolved_by", "resolution_notes", "resolution_minutes",
    "acknowledge_minutes", "closed_at", "policy", "next_escalation_at", "last_notify_reason",
)  # fmt: skip

SQL = f"""
WITH general AS (
    SELECT 1 FROM alerts
    WHERE fingerprint = $1 AND deduplicated AND status IN ('resolved', 'closed')
      AND COALESCE(resolved_at, closed_at) > $2::timestamptz - $3::interval
      AND NOT EXISTS (
          SELECT 1 FROM alerts WHERE fingerprint = $1 AND deduplicated AND status IN ({_ACTIVE}))
    UNION ALL
    SELECT 1 FROM silences WHERE starts_at <= $2 AND ends_at > $2 AND released_at IS NULL
    LIMIT 1
), up AS (
    INSERT INTO alerts AS a (
        id, fingerprint, alert_type, severity, message, source, labels, details, channels, status,
        escalation_level, max_escalation_level, occurrences, suppressed_count, suppressed_streak,
        notifications_sent, first_seen_at, last_seen_at, triggered_at, policy, deduplicated,
        next_escalation_at, last_notify_reason)
    SELECT $4::uuid, $1, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::jsonb, 'open',
        1, 1, 1, 0, 0, 0, $2, $2, $2, $12, true, $13::timestamptz, 'new'
    WHERE NOT EXISTS (SELECT 1 FROM general)
    ON CONFLICT (fingerprint) WHERE status IN ({_ACTIVE}) AND deduplicated = true
    DO UPDATE SET
        occurrences = a.occurrences + 1,
        last_seen_at = $2,
        message = EXCLUDED.message,
        details = EXCLUDED.details,
        severity = CASE WHEN {_RAISE} THEN EXCLUDED.severity ELSE a.severity END,
        last_notify_reason = {_REASON},
        suppressed_count = a.suppressed_count + CASE WHEN ({_REASON}) IS NULL THEN 1 ELSE 0 END,
        suppressed_streak = CASE WHEN ({_REASON}) IS NULL THEN a.suppressed_streak + 1 ELSE 0 END,
        next_escalation_at = CASE WHEN {_RAISE} THEN {_RESCHEDULE} ELSE a.next_escalation_at END
    RETURNING {", ".join(f"a.{c}" for c in RETURNED)}, (a.xmax = 0) AS inserted
), events AS (
    INSERT INTO alert_events (alert_id, at, kind, actor, from_status, to_status, note, data)
    SELECT id, $2, 'created', $8, NULL, 'open', NULL, '{{}}'::jsonb FROM up WHERE inserted
    UNION ALL
    SELECT id, $2, 'severity_raised', $8, NULL, NULL, NULL, jsonb_build_object('severity', severity)
    FROM up WHERE NOT inserted AND last_notify_reason = 'severity'
    UNION ALL
    SELECT id, $2, 'notified', NULL, NULL, NULL, NULL,
           jsonb_build_object('reason', last_notify_reason, 'occurrences', occurrences)
    FROM up WHERE NOT inserted AND last_notify_reason IS NOT NULL
), queued AS (
    INSERT INTO notifications (id, alert_id, channel, reason, level, status, attempts, created_at, next_attempt_at)
    SELECT gen_random_uuid(), up.id, ch.name, up.last_notify_reason, up.escalation_level, 'pending', 0, $2, $2
    FROM up CROSS JOIN LATERAL jsonb_array_elements_text(up.channels) AS ch(name)
    WHERE up.last_notify_reason IS NOT NULL AND $15::boolean AND ch.name = ANY($16::text[])
    RETURNING 1
)
SELECT up.*, (SELECT count(*) FROM queued) AS queued FROM up
"""


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _set_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=_json, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per request): this
    pool runs one autocommitted statement and never changes session state."""


def plain_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_pool(settings: Settings, *, size: int) -> asyncpg.Pool:
    """A pool for the ingest statement alone. It connects lazily, so the
    service starts (and answers 503) while the database is down."""
    pool = await asyncpg.create_pool(
        plain_dsn(settings.database_url),
        min_size=0,
        max_size=size,
        timeout=settings.database_connect_timeout_seconds,
        command_timeout=settings.database_statement_timeout_seconds,
        server_settings={
            "statement_timeout": str(int(settings.database_statement_timeout_seconds * 1000)),
            "application_name": "alert-service-ingest",
        },
        init=_set_codecs,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds() / 60.0


# (id of the policy, severity) -> (the policy, its parameters). Holding the
# policy keeps its id from being reused by another one.
_SCHEDULES: dict[tuple[int, str], tuple[EscalationPolicy, list[float | None]]] = {}


def schedule_parameters(settings: Settings, severity: str) -> list[float | None]:
    """For a severity raise, per current level 1..4: minutes until the next
    level matures, then minutes between repeats, for the new severity.
    Computed once per policy and severity."""
    key = (id(settings.escalation), severity)
    cached = _SCHEDULES.get(key)
    if cached is None or cached[0] is not settings.escalation:
        cached = _SCHEDULES[key] = (settings.escalation, _schedule(settings, severity))
    return cached[1]


def _schedule(settings: Settings, severity: str) -> list[float | None]:
    after = []
    for level in (1, 2, 3, 4):
        offsets = level_offsets(settings.escalation, severity=severity, above=level)
        after.append(_minutes(min(offsets)) if offsets else None)
    repeat = [
        _minutes(repeat_interval(settings.escalation, level=level, severity=severity))
        for level in (1, 2, 3, 4)
    ]
    return [*after, *repeat]


async def upsert(
    pool: asyncpg.Pool,
    *,
    values: dict[str, Any],
    next_escalation_at: datetime | None,
    settings: Settings,
    now: datetime,
) -> dict[str, Any] | None:
    """Run the statement; the alert row (with `inserted` and `queued`), or
    None when the general path must handle this submission."""
    row = await pool.fetchrow(
        SQL,
        values["fp"],
        now,
        timedelta(minutes=settings.dedup_window_minutes),
        uuid.uuid4(),
        values["alert_type"],
        values["severity"],
        values["message"],
        values["source"],
        values["labels"],
        values["details"],
        values["channels"],
        settings.escalation.name,
        next_escalation_at,
        settings.suppression_threshold,
        settings.enabled,
        list(settings.channels),
        *schedule_parameters(settings, values["severity"]),
    )
    return None if row is None else dict(row)
