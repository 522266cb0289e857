"""The PostgreSQL ingest path: submissions in one statement, one round trip.

The statement takes a batch of submissions of distinct fingerprints, one
array per column (db/group_commit.py gathers them); a lone submission is a
batch of one. Each row carries its own submission time.

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

Two rare cases belong to the general path (services/alerts.py): an identity
whose newest alert was resolved or closed within the window, which must be
reopened, and any silence in force, whose matchers decide per alert whether
its notifications are held. The statement then changes nothing for that
submission and returns no row for it, and its caller takes the general path.
Rows are written in fingerprint order, so two batches never wait on each
other's rows in opposite orders. The tests of the dedup rules run against this
path on PostgreSQL and against the general path on SQLite.

Why asyncpg directly, on a pool of its own: this is the hot path of a burst,
and the statement is fixed. asyncpg prepares it once per connection, the
pool's connections plan it once (a generic plan), and asyncpg decodes the
row itself; going through SQLAlchemy's execution and result
machinery cost about a third of the request's CPU (profiled with py-spy).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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
# EXCLUDED.last_seen_at is the submission's own time; $1 window, $3 suppression threshold
_REASON = f"""CASE
    WHEN {_RAISE} THEN 'severity'
    WHEN EXCLUDED.last_seen_at - a.last_seen_at >= $1::interval THEN 'window'
    WHEN a.suppressed_streak + 1 >= $3::int THEN 'repeated'
END"""
# $6..$9: minutes to the next level from levels 1..4; $10..$13: repeat minutes
# at levels 1..4; each an array indexed by the new severity's rank (1-based).
_NEW_RANK = f"({_RANK.format('EXCLUDED.severity')} + 1)"
_RESCHEDULE = (
    "CASE WHEN a.status NOT IN ('open', 'reopened') THEN NULL ELSE CASE a.escalation_level "
    + " ".join(
        f"WHEN {level} THEN LEAST("
        f"a.triggered_at + (${5 + level}::float8[])[{_NEW_RANK}] * interval '1 minute', "
        f"COALESCE(a.escalated_at, a.triggered_at) + (${9 + level}::float8[])[{_NEW_RANK}] * interval '1 minute')"
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
# One array per column of the submissions, in this order, from $14 on (jsonb as text).
_INPUT = (
    ("fingerprint", "text"), ("now", "timestamptz"), ("id", "uuid"), ("alert_type", "text"),
    ("severity", "text"), ("message", "text"), ("source", "text"), ("labels", "text"),
    ("details", "text"), ("channels", "text"), ("next_escalation_at", "timestamptz"),
)  # fmt: skip

SQL = f"""
WITH input AS (
    SELECT * FROM unnest({", ".join(f"${n + 14}::{kind}[]" for n, (_, kind) in enumerate(_INPUT))})
        AS i({", ".join(name for name, _ in _INPUT)})
), general AS (
    SELECT i.fingerprint FROM input i
    WHERE EXISTS (
        SELECT 1 FROM silences WHERE starts_at <= i.now AND ends_at > i.now AND released_at IS NULL)
    OR EXISTS (
        SELECT 1 FROM (
            SELECT status, COALESCE(resolved_at, closed_at) AS ended_at FROM alerts
            WHERE fingerprint = i.fingerprint AND deduplicated ORDER BY first_seen_at DESC LIMIT 1
        ) newest
        WHERE status IN ('resolved', 'closed') AND ended_at > i.now - $1::interval)
), up AS (
    INSERT INTO alerts AS a (
        id, fingerprint, alert_type, severity, message, source, labels, details, channels, status,
        escalation_level, max_escalation_level, occurrences, suppressed_count, suppressed_streak,
        notifications_sent, first_seen_at, last_seen_at, triggered_at, policy, deduplicated,
        next_escalation_at, last_notify_reason)
    SELECT i.id, i.fingerprint, i.alert_type, i.severity, i.message, i.source, i.labels::jsonb,
        i.details::jsonb, i.channels::jsonb, 'open', 1, 1, 1, 0, 0, 0, i.now, i.now, i.now, $2, true,
        i.next_escalation_at, 'new'
    FROM input i
    WHERE i.fingerprint NOT IN (SELECT fingerprint FROM general)
    ORDER BY i.fingerprint
    ON CONFLICT (fingerprint) WHERE status IN ({_ACTIVE}) AND deduplicated = true
    DO UPDATE SET
        occurrences = a.occurrences + 1,
        last_seen_at = EXCLUDED.last_seen_at,
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
    SELECT up.id, up.last_seen_at, 'created', i.source, NULL, 'open', NULL, '{{}}'::jsonb
    FROM up JOIN input i USING (fingerprint) WHERE up.inserted
    UNION ALL
    SELECT up.id, up.last_seen_at, 'severity_raised', i.source, NULL, NULL, NULL,
           jsonb_build_object('severity', up.severity)
    FROM up JOIN input i USING (fingerprint) WHERE NOT up.inserted AND up.last_notify_reason = 'severity'
    UNION ALL
    SELECT id, last_seen_at, 'notified', NULL, NULL, NULL, NULL,
           jsonb_build_object('reason', last_notify_reason, 'occurrences', occurrences)
    FROM up WHERE NOT inserted AND last_notify_reason IS NOT NULL
), queued AS (
    INSERT INTO notifications (id, alert_id, channel, reason, level, status, attempts, created_at, next_attempt_at)
    SELECT gen_random_uuid(), up.id, ch.name, up.last_notify_reason, up.escalation_level, 'pending', 0,
           up.last_seen_at, up.last_seen_at
    FROM up CROSS JOIN LATERAL jsonb_array_elements_text(up.channels) AS ch(name)
    WHERE up.last_notify_reason IS NOT NULL AND $4::boolean AND ch.name = ANY($5::text[])
    RETURNING alert_id
)
SELECT up.*, (SELECT count(*) FROM queued WHERE queued.alert_id = up.id) AS queued FROM up
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
            # These statements are fixed and their plans do not depend on the
            # values; with custom plans PostgreSQL planned the ingest
            # statement anew at each execution, and planning took longer
            # than executing it (pg_stat_statements: 0.52 ms against 0.49 ms
            # per statement). A generic plan is made once per connection.
            "plan_cache_mode": "force_generic_plan",
        },
        init=_set_codecs,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds() / 60.0


@dataclass(frozen=True, slots=True)
class Pending:
    """One submission for the statement, its fingerprint already computed."""

    fingerprint: str
    now: datetime
    alert_type: str
    severity: str
    message: str
    source: str
    labels: dict[str, str]
    details: dict[str, Any]
    channels: list[str]
    next_escalation_at: datetime | None


# id of the policy -> (the policy, its arrays). Holding the policy keeps its
# id from being reused by another one.
_SCHEDULES: dict[int, tuple[EscalationPolicy, list[list[float | None]]]] = {}


def schedule_arrays(settings: Settings) -> list[list[float | None]]:
    """For a severity raise, per current level 1..4: minutes until the next
    level matures, then minutes between repeats; each an array over the
    severities by rank. Computed once per policy."""
    cached = _SCHEDULES.get(id(settings.escalation))
    if cached is None or cached[0] is not settings.escalation:
        per_severity = [_schedule(settings, severity) for severity in SEVERITIES]
        arrays = [list(column) for column in zip(*per_severity, strict=True)]
        cached = _SCHEDULES[id(settings.escalation)] = (settings.escalation, arrays)
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


def arguments(batch: Sequence[Pending], *, settings: Settings) -> list[Any]:
    """The statement's parameters for a batch, in order."""
    return [
        timedelta(minutes=settings.dedup_window_minutes),
        settings.escalation.name,
        settings.suppression_threshold,
        settings.enabled,
        list(settings.channels),
        *schedule_arrays(settings),
        [item.fingerprint for item in batch],
        [item.now for item in batch],
        [uuid.uuid4() for _ in batch],
        [item.alert_type for item in batch],
        [item.severity for item in batch],
        [item.message for item in batch],
        [item.source for item in batch],
        [_json(item.labels) for item in batch],
        [_json(item.details) for item in batch],
        [_json(item.channels) for item in batch],
        [item.next_escalation_at for item in batch],
    ]


async def upsert_many(
    pool: asyncpg.Pool, batch: Sequence[Pending], *, settings: Settings
) -> dict[str, dict[str, Any]]:
    """Run the statement for submissions of distinct fingerprints; the alert
    row of each (with `inserted` and `queued`) by fingerprint. A fingerprint
    missing from the answer is one the general path must handle."""
    rows = await pool.fetch(SQL, *arguments(batch, settings=settings))
    return {row["fingerprint"]: dict(row) for row in rows}
