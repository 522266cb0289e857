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
caller takes the general path. The tests of
the dedup rules run against this path on PostgreSQL and against the general
path on SQLite.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Float, Integer, Interval, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.types import UTCDateTime
from app.models import ACTIVE_STATUSES, Alert
from app.services.escalation import level_offsets, repeat_interval
from app.settings import SEVERITIES, Settings

_ACTIVE = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)
_RANK = "CASE {} " + " ".join(f"WHEN '{name}' THEN {rank}" for rank, name in enumerate(SEVERITIES)) + " END"
_RAISE = f"({_RANK.format('EXCLUDED.severity')} > {_RANK.format('a.severity')})"
_REASON = f"""CASE
    WHEN {_RAISE} THEN 'severity'
    WHEN :now - a.last_seen_at >= :window THEN 'window'
    WHEN a.suppressed_streak + 1 >= :threshold THEN 'repeated'
END"""
_MINUTES = "* interval '1 minute'"
_RESCHEDULE = (
    "CASE WHEN a.status NOT IN ('open', 'reopened') THEN NULL ELSE CASE a.escalation_level "
    + " ".join(
        f"WHEN {level} THEN LEAST(a.triggered_at + :after{level} {_MINUTES}, "
        f"COALESCE(a.escalated_at, a.triggered_at) + :repeat{level} {_MINUTES})"
        for level in (1, 2, 3, 4)
    )
    + " END END"
)
_COLUMNS = [column.name for column in Alert.__table__.columns]

_SQL = f"""
WITH general AS (
    SELECT 1 FROM alerts
    WHERE fingerprint = :fp AND deduplicated AND status IN ('resolved', 'closed')
      AND COALESCE(resolved_at, closed_at) > :now - :window
      AND NOT EXISTS (
          SELECT 1 FROM alerts WHERE fingerprint = :fp AND deduplicated AND status IN ({_ACTIVE}))
    UNION ALL
    SELECT 1 FROM silences WHERE starts_at <= :now AND ends_at > :now AND released_at IS NULL
    LIMIT 1
), up AS (
    INSERT INTO alerts AS a (
        id, fingerprint, alert_type, severity, message, source, labels, details, channels, status,
        escalation_level, max_escalation_level, occurrences, suppressed_count, suppressed_streak,
        notifications_sent, first_seen_at, last_seen_at, triggered_at, policy, deduplicated,
        next_escalation_at, last_notify_reason)
    SELECT :id, :fp, :alert_type, :severity, :message, :source, :labels, :details, :channels, 'open',
        1, 1, 1, 0, 0, 0, :now, :now, :now, :policy, true, :next_escalation_at, 'new'
    WHERE NOT EXISTS (SELECT 1 FROM general)
    ON CONFLICT (fingerprint) WHERE status IN ({_ACTIVE}) AND deduplicated = true
    DO UPDATE SET
        occurrences = a.occurrences + 1,
        last_seen_at = :now,
        message = EXCLUDED.message,
        details = EXCLUDED.details,
        severity = CASE WHEN {_RAISE} THEN EXCLUDED.severity ELSE a.severity END,
        last_notify_reason = {_REASON},
        suppressed_count = a.suppressed_count + CASE WHEN ({_REASON}) IS NULL THEN 1 ELSE 0 END,
        suppressed_streak = CASE WHEN ({_REASON}) IS NULL THEN a.suppressed_streak + 1 ELSE 0 END,
        next_escalation_at = CASE WHEN {_RAISE} THEN {_RESCHEDULE} ELSE a.next_escalation_at END
    RETURNING {", ".join(f"a.{c}" for c in _COLUMNS)}, (a.xmax = 0) AS inserted
), events AS (
    INSERT INTO alert_events (alert_id, at, kind, actor, from_status, to_status, note, data)
    SELECT id, :now, 'created', :source, NULL, 'open', NULL, '{{}}'::jsonb FROM up WHERE inserted
    UNION ALL
    SELECT id, :now, 'severity_raised', :source, NULL, NULL, NULL, jsonb_build_object('severity', severity)
    FROM up WHERE NOT inserted AND last_notify_reason = 'severity'
    UNION ALL
    SELECT id, :now, 'notified', NULL, NULL, NULL, NULL,
           jsonb_build_object('reason', last_notify_reason, 'occurrences', occurrences)
    FROM up WHERE NOT inserted AND last_notify_reason IS NOT NULL
), queued AS (
    INSERT INTO notifications (id, alert_id, channel, reason, level, status, attempts, created_at, next_attempt_at)
    SELECT gen_random_uuid(), up.id, ch.name, up.last_notify_reason, up.escalation_level, 'pending', 0, :now, :now
    FROM up CROSS JOIN LATERAL jsonb_array_elements_text(up.channels) AS ch(name)
    WHERE up.last_notify_reason IS NOT NULL AND :enabled AND ch.name = ANY(:configured)
    RETURNING 1
)
SELECT up.*, (SELECT count(*) FROM queued) AS queued FROM up
"""

_STATEMENT = (
    text(_SQL)
    .bindparams(
        bindparam("id", type_=Alert.__table__.c.id.type),
        bindparam("now", type_=UTCDateTime()),
        bindparam("next_escalation_at", type_=UTCDateTime()),
        bindparam("window", type_=Interval()),
        bindparam("labels", type_=JSONB()),
        bindparam("details", type_=JSONB()),
        bindparam("channels", type_=JSONB()),
        bindparam("configured", type_=ARRAY(String())),
        bindparam("enabled", type_=Boolean()),
        bindparam("threshold", type_=Integer()),
        *(bindparam(f"after{level}", type_=Float()) for level in (1, 2, 3, 4)),
        *(bindparam(f"repeat{level}", type_=Float()) for level in (1, 2, 3, 4)),
    )
    .columns(*Alert.__table__.columns, inserted=Boolean(), queued=Integer())
)


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds() / 60.0


def _schedule_params(settings: Settings, severity: str) -> dict[str, float | None]:
    """For a severity raise, per current level: when the next level matures
    and how often the current one repeats, for the new severity."""
    params: dict[str, float | None] = {}
    for level in (1, 2, 3, 4):
        offsets = level_offsets(settings.escalation, severity=severity, above=level)
        params[f"after{level}"] = _minutes(min(offsets)) if offsets else None
        params[f"repeat{level}"] = _minutes(
            repeat_interval(settings.escalation, level=level, severity=severity)
        )
    return params


async def upsert(
    connection: AsyncConnection,
    *,
    values: Mapping[str, Any],
    next_escalation_at: datetime | None,
    settings: Settings,
    now: datetime,
) -> dict[str, Any] | None:
    """Run the statement; the alert row (with `inserted` and `queued`), or
    None when a recently ended alert must be reopened by the general path."""
    result = await connection.execute(
        _STATEMENT,
        {
            **values,
            "id": uuid.uuid4(),
            "now": now,
            "window": timedelta(minutes=settings.dedup_window_minutes),
            "threshold": settings.suppression_threshold,
            "policy": settings.escalation.name,
            "next_escalation_at": next_escalation_at,
            "enabled": settings.enabled,
            "configured": list(settings.channels),
            **_schedule_params(settings, values["severity"]),
        },
    )
    row = result.mappings().first()
    return None if row is None else dict(row)
