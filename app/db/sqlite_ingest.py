"""The SQLite ingest statement: a group of submissions in one write
transaction, one upsert each, no ORM objects.

A group (db/group_commit.py, through db/sqlite_store.py) is written in order
by one function run on the connection's own thread (aiosqlite runs every
call of a connection on one thread): a submission is one

    INSERT INTO alerts ... SELECT ... WHERE <no reopen>
    ON CONFLICT (team, fingerprint) WHERE <the active index's predicate>
    DO UPDATE SET ... RETURNING ...

against the partial unique index of active identities, as on PostgreSQL
(db/pg_ingest.py):

- no active alert: the row is inserted;
- an active alert: the conflict updates it in place with the outcome read
  from constants written into the statement (db/store.py `Decisions`, one
  statement text per Decisions): the statement classifies the stored alert
  (its severity, whether a window passed since it was last seen, whether its
  suppressed streak reached the limit) into `Decisions.duplicate_index` and
  reads the reason and the severity there;
- the policy its route chose is looked up, not trusted: a policy deleted
  since this process last read its routes leaves the alert with none.

The events and notifications of each outcome are worked out in Python from
the returned row and inserted with one executemany each, in the same
transaction. So is the one thing SQLite's date text cannot compute exactly:
the next escalation of an alert a raise reschedules (a rare statement of its
own). Repeats of an identity within a group merge in order, each upsert
seeing the one before.

Declined, as on PostgreSQL, and left to the ORM store: an identity whose
newest alert was resolved or closed within the window (a reopen; the
statement then writes nothing and returns no row), deduplication off, and
any silence in force during the group (`SilencesInForce`: whose matchers
decide per alert whether its notifications are held).

Why the sqlite3 connection on its own thread, the whole transaction in one
call (`write_group`): through SQLAlchemy each statement is three hops to
that thread and back (cursor, execute, close), an empty write transaction
six, about 0.9 ms of CPU; one call with an insert is about 45 µs; and the
ORM batch path cost about 1.5 ms of CPU per submission of a group of 32
(bench/README.md, the embedded default). aiosqlite offers no public way to
run a function there; SQLAlchemy's own aiosqlite adapter uses the same
private queue (`_execute` wraps it). `write` alone runs in a transaction
SQLAlchemy began, for a group the statement declined some of
(db/sqlite_store.py).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.db.store import ALERT_COLUMNS, Decisions, Ingested, IngestPlan, next_escalation_at
from app.models import ACTIVE_STATUSES

_ACTIVE = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)
# The partial unique index's predicate, as the conflict target must name it.
_DEDUP = f"status IN ({_ACTIVE}) AND deduplicated = true"
_RETURNED = (*ALERT_COLUMNS, "escalated_at")

# The parameters of the upsert, by number (?1 ...): a submission's columns,
# then `now - window` and the rank of its severity.
_TEMPLATE = f"""
INSERT INTO alerts (
    id, team, fingerprint, alert_type, severity, message, source, labels, details, channels, status,
    escalation_level, max_escalation_level, occurrences, suppressed_count, suppressed_streak,
    notifications_sent, first_seen_at, last_seen_at, triggered_at, policy, deduplicated,
    next_escalation_at, last_notify_reason, escalation_policy_id, escalation_step)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'open', 1, 1, 1, 0, 0, 0, ?11, ?11, ?11, @policy@, 1,
    ?12, 'new', (SELECT id FROM escalation_policies WHERE id = ?13), 0
WHERE NOT EXISTS (
    SELECT 1 FROM (
        SELECT status, COALESCE(resolved_at, closed_at) AS ended_at FROM alerts
        WHERE team = ?2 AND fingerprint = ?3 AND deduplicated
        ORDER BY first_seen_at DESC LIMIT 1
    ) newest
    WHERE status IN ('resolved', 'closed') AND ended_at > ?14)
ON CONFLICT (team, fingerprint) WHERE {_DEDUP}
DO UPDATE SET
    occurrences = occurrences + 1,
    last_seen_at = excluded.last_seen_at,
    message = excluded.message,
    details = excluded.details,
    channels = excluded.channels,
    severity = @severity@ ->> @index@,
    last_notify_reason = @reason@ ->> @index@,
    suppressed_count = suppressed_count + ((@reason@ ->> @index@) IS NULL),
    suppressed_streak = CASE WHEN (@reason@ ->> @index@) IS NULL THEN suppressed_streak + 1 ELSE 0 END
RETURNING {", ".join(_RETURNED)}
"""

_SILENCES = "SELECT 1 FROM silences WHERE released_at IS NULL AND starts_at <= ? AND ends_at > ? LIMIT 1"
_RESCHEDULE = "UPDATE alerts SET next_escalation_at = ? WHERE id = ?"
_EVENT = (
    "INSERT INTO alert_events (alert_id, at, kind, actor, from_status, to_status, note, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_NOTIFICATION = (
    "INSERT INTO notifications (id, alert_id, channel, reason, level, status, attempts, created_at, "
    "next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
)
_CREATED_DATA = json.dumps({})


class SilencesInForce(Exception):
    """A silence is in force during the group: the ORM store writes it."""


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    rank: dict[str, int]  # a severity's place in Decisions.severities
    raise_reasons: frozenset[str]


# Decisions -> its statement. Holding the decisions keeps their id from being reused.
_STATEMENTS: dict[int, tuple[Decisions, _Statement]] = {}


def statement(decisions: Decisions) -> _Statement:
    """The upsert for these decisions, made once per Decisions."""
    cached = _STATEMENTS.get(id(decisions))
    if cached is None or cached[0] is not decisions:
        severities = decisions.severities
        rank = "CASE severity " + " ".join(f"WHEN {_text(s)} THEN {i}" for i, s in enumerate(severities))
        # Decisions.duplicate_index over the stored row (SET reads the row as it was).
        index = (
            f"(((?15 * {len(severities)} + {rank} END) * 2 + (last_seen_at <= ?14)) * 2"
            f" + (suppressed_streak >= {int(decisions.streak_limit)}))"
        )
        constants = {
            "policy": _text(decisions.policy),
            "severity": _text(json.dumps([o.severity for o in decisions.duplicate])),
            "reason": _text(json.dumps([o.reason for o in decisions.duplicate])),
            "index": index,
        }
        sql = _TEMPLATE
        for name, constant in constants.items():
            sql = sql.replace(f"@{name}@", constant)
        made = _Statement(sql, {s: i for i, s in enumerate(severities)}, frozenset(decisions.raise_reasons()))
        cached = _STATEMENTS[id(decisions)] = (decisions, made)
    return cached[1]


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def encode_time(value: datetime | None) -> str | None:
    """As SQLAlchemy writes a UTCDateTime on SQLite (db/types.py): naive UTC
    text with microseconds, whose order is time order."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def decode_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def encode_uuid(value: uuid.UUID | None) -> str | None:
    """As SQLAlchemy writes a Uuid where the database has none: 32 hex digits."""
    return None if value is None else value.hex


def decode_uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


# As SQLAlchemy writes JSON on SQLite (no serializer configured: the json module's).
encode_json = json.dumps

# What each returned column needs to become the ORM's value; None: nothing.
# `labels` is the submission's when the stored text is what it would write;
# `details` and `channels` are always the submission's (the statement wrote them).
_DECODE: dict[str, Callable[[Any], Any] | None] = {
    "id": decode_uuid,
    "first_seen_at": decode_time,
    "last_seen_at": decode_time,
    "triggered_at": decode_time,
    "acknowledged_at": decode_time,
    "resolved_at": decode_time,
    "closed_at": decode_time,
    "next_escalation_at": decode_time,
    "escalation_policy_id": decode_uuid,
    "escalated_at": decode_time,
}
_DECODERS = tuple((name, _DECODE.get(name)) for name in _RETURNED)
_LABELS = _RETURNED.index("labels")


def _row(values: Sequence[Any], plan: IngestPlan, labels: str) -> dict[str, Any]:
    row = {
        name: value if decode is None or value is None else decode(value)
        for (name, decode), value in zip(_DECODERS, values, strict=True)
    }
    stored_labels = values[_LABELS]
    row["labels"] = plan.labels if stored_labels == labels else json.loads(stored_labels)
    row["details"] = plan.details
    row["channels"] = plan.channels
    return row


@dataclass(slots=True)
class Written:
    """What one call wrote: an answer per submission, from the first on,
    up to the first one declined (`declined`: it is the ORM store's)."""

    done: list[Ingested]
    declined: bool


def write(connection: sqlite3.Connection, plans: Sequence[IngestPlan], *, check_silences: bool) -> Written:
    """Write the submissions in order, in the caller's transaction, until one
    is declined. Runs on the connection's thread."""
    cursor = connection.cursor()
    if check_silences:
        first = min(plan.now for plan in plans)
        last = max(plan.now for plan in plans)
        if cursor.execute(_SILENCES, (encode_time(last), encode_time(first))).fetchone() is not None:
            raise SilencesInForce
    events: list[tuple[Any, ...]] = []
    notifications: list[tuple[Any, ...]] = []
    done: list[Ingested] = []
    declined = False
    for plan in plans:
        if not plan.deduplicate:
            declined = True
            break
        decisions = plan.decisions
        made = statement(decisions)
        now = encode_time(plan.now)
        new_id = encode_uuid(plan.id)
        labels = encode_json(plan.labels)
        found = cursor.execute(
            made.sql,
            (
                new_id,
                plan.team,
                plan.fingerprint,
                plan.alert_type,
                plan.severity,
                plan.message,
                plan.source,
                labels,
                encode_json(plan.details),
                encode_json(plan.channels),
                now,
                encode_time(plan.next_escalation_at),
                encode_uuid(plan.escalation_policy_id),
                encode_time(plan.now - decisions.window),
                made.rank[plan.severity],
            ),
        ).fetchone()
        if found is None:  # a reopen
            declined = True
            break
        stored_id = found[0]
        alert = _row(found, plan, labels)
        escalated_at = alert.pop("escalated_at")
        reason = alert["last_notify_reason"]
        if stored_id == new_id:
            outcome = "created"
            events.append((stored_id, now, "created", plan.source, None, "open", None, _CREATED_DATA))
        else:
            outcome = "duplicate"
            if reason in made.raise_reasons:
                if alert["escalation_policy_id"] is None:  # a policy's steps do not depend on the severity
                    alert["next_escalation_at"] = _rescheduled(decisions, alert, escalated_at)
                    cursor.execute(_RESCHEDULE, (encode_time(alert["next_escalation_at"]), stored_id))
                data = encode_json({"severity": alert["severity"]})
                events.append((stored_id, now, "severity_raised", plan.source, None, None, None, data))
            if reason is not None:
                data = encode_json({"reason": reason, "occurrences": alert["occurrences"]})
                events.append((stored_id, now, "notified", None, None, None, None, data))
        queued = 0
        if reason is not None and plan.notify:
            level = alert["escalation_level"]
            for channel in plan.notify:
                notifications.append((encode_uuid(uuid.uuid4()), stored_id, channel, reason, level, now, now))
            queued = len(plan.notify)
        done.append(Ingested(alert, outcome, reason, queued, []))
    if events:
        cursor.executemany(_EVENT, events)
    if notifications:
        cursor.executemany(_NOTIFICATION, notifications)
    cursor.close()
    return Written(done, declined)


def write_group(connection: sqlite3.Connection, plans: Sequence[IngestPlan]) -> list[Ingested] | None:
    """The whole group in a transaction of its own (BEGIN IMMEDIATE ...
    COMMIT), all on the connection's thread: one call for the group. None,
    with nothing written, when any of it is the ORM store's (a silence in
    force, a reopen, deduplication off). The caller holds the process's
    writer turn (db/engine.py `WriterQueue.turn`)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        try:
            written = write(connection, plans, check_silences=True)
        except SilencesInForce:
            written = None
        if written is None or written.declined:
            connection.execute("ROLLBACK")
            return None
        connection.execute("COMMIT")
        return written.done
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _rescheduled(decisions: Decisions, alert: dict[str, Any], escalated_at: Any) -> Any:
    """The next escalation of a raised alert under the configured policy
    (db/alert_changes.py `merged`)."""
    return next_escalation_at(
        decisions.reschedule[
            decisions.reschedule_index(alert["severity"], alert["status"], alert["escalation_level"])
        ],
        triggered_at=alert["triggered_at"],
        escalated_at=escalated_at,
    )
