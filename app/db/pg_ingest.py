"""The PostgreSQL ingest statement: submissions in one statement, one round trip.

The statement takes a batch of submissions of distinct identities (team and
fingerprint), one
array per column (db/group_commit.py gathers them); a lone submission is a
batch of one. Each row carries its own submission time.

It decides nothing itself. The answers of the rules arrive as constant
arrays written into the statement (db/store.py `Decisions`, computed by
services/decisions.py; one statement text per Decisions): the statement
classifies the stored alert (its severity, whether a window passed since it
was last seen, whether its suppressed streak reached the limit) into an
index and reads the outcome there, as db/orm_store.py does in Python. As one
INSERT ... ON CONFLICT against the partial unique index of active
identities:

- no active alert: the row is inserted, with its 'created' event;
- an active alert: the conflict updates it in place with the outcome read
  from the arrays (reason, severity, raise, and on a raise the next
  escalation from the reschedule arrays, unless a policy of its team
  escalates it);
- the policy its route chose is joined, not trusted: a policy deleted since
  this process last read its routes (services/oncall/routing.py) leaves
  the alert with none rather than failing the batch;
- the notifications (and events) of that outcome are inserted by the same
  statement, from data-modifying CTEs, to the channels the plan names, so
  the change and its outbox rows commit together, as one statement in
  autocommit. Their count per alert is one grouped join: a subquery per
  alert read every queued row again, n^2 for n rows (a quarter of the
  statement for 1,000 new alerts).

Two rare cases belong to the ORM store: an identity whose newest alert was
resolved or closed within the window, which must be reopened, and any
silence in force, whose matchers decide per alert whether its notifications
are held. The statement then changes nothing for that submission and
returns no row for it. Rows are written in fingerprint order, so two batches
never wait on each other's rows in opposite orders.

Why asyncpg directly, on a pool of its own: this is the hot path of a burst,
and the statement is fixed. asyncpg prepares it once per connection, the
pool's connections plan it once (a generic plan; behind a transaction-mode
pooler neither, db/pooler.py), and asyncpg decodes the row itself; going through SQLAlchemy's execution and result machinery cost
about a third of the request's CPU (profiled with py-spy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson

from app.db import pg_pool, pooler
from app.db.store import ALERT_COLUMNS, LEVELS, Decisions, IngestPlan
from app.models import ACTIVE_STATUSES
from app.settings import Settings

_ACTIVE = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)

# The decisions are written into the statement as constants (@name@ below,
# replaced by statement()), so there is one statement text per Decisions,
# prepared and planned once per connection. As parameters they were hundreds
# of values to encode (asyncpg) or parse (PostgreSQL) at every execution,
# which cost more than a small batch's own rows (profiled).
#
# The index of db/store.py Decisions.duplicate_index, 1-based:
_DUP = (
    "((((array_position(@severities@, EXCLUDED.severity) - 1) * array_length(@severities@, 1)"
    " + array_position(@severities@, a.severity) - 1) * 2"
    " + (a.last_seen_at <= EXCLUDED.last_seen_at - @window@)::int) * 2"
    " + (a.suppressed_streak >= @streak_limit@)::int + 1)"
)
_REASON = f"(@reason@)[{_DUP}]"
_SEVERITY = f"(@severity@)[{_DUP}]"
_RAISED = f"(@raised@)[{_DUP}]"
# Decisions.reschedule_index for the new severity, 1-based (levels count from 1).
_RESCHEDULE_AT = (
    f"((array_position(@severities@, {_SEVERITY}) - 1) * array_length(@statuses@, 1)"
    f" + array_position(@statuses@, a.status) - 1) * {LEVELS} + a.escalation_level"
)
_NEXT = (
    f"LEAST(a.triggered_at + (@after@)[{_RESCHEDULE_AT}] * interval '1 minute', "
    f"COALESCE(a.escalated_at, a.triggered_at) + (@repeat@)[{_RESCHEDULE_AT}] * interval '1 minute')"
)
# The parameters: one array per column of the submissions, in this order
# (jsonb as text).
_INPUT = (
    ("team", "text"), ("fingerprint", "text"), ("now", "timestamptz"), ("id", "uuid"), ("alert_type", "text"),
    ("severity", "text"), ("message", "text"), ("source", "text"), ("labels", "text"),
    ("details", "text"), ("channels", "text"), ("notify", "text"), ("next_escalation_at", "timestamptz"),
    ("escalation_policy_id", "uuid"),
)  # fmt: skip
_FIRST_INPUT = 1

_TEMPLATE = f"""
WITH input AS (
    SELECT * FROM unnest({", ".join(f"${n + _FIRST_INPUT}::{kind}[]" for n, (_, kind) in enumerate(_INPUT))})
        AS i({", ".join(name for name, _ in _INPUT)})
), general AS (
    SELECT i.team, i.fingerprint FROM input i
    WHERE EXISTS (
        SELECT 1 FROM silences WHERE starts_at <= i.now AND ends_at > i.now AND released_at IS NULL)
    OR EXISTS (
        SELECT 1 FROM (
            SELECT status, COALESCE(resolved_at, closed_at) AS ended_at FROM alerts
            WHERE team = i.team AND fingerprint = i.fingerprint AND deduplicated
            ORDER BY first_seen_at DESC LIMIT 1
        ) newest
        WHERE status IN ('resolved', 'closed') AND ended_at > i.now - @window@)
), up AS (
    INSERT INTO alerts AS a (
        id, team, fingerprint, alert_type, severity, message, source, labels, details, channels, status,
        escalation_level, max_escalation_level, occurrences, suppressed_count, suppressed_streak,
        notifications_sent, first_seen_at, last_seen_at, triggered_at, policy, deduplicated,
        next_escalation_at, last_notify_reason, escalation_policy_id)
    SELECT i.id, i.team, i.fingerprint, i.alert_type, i.severity, i.message, i.source, i.labels::jsonb,
        i.details::jsonb, i.channels::jsonb, 'open', 1, 1, 1, 0, 0, 0, i.now, i.now, i.now, @policy@, true,
        i.next_escalation_at, 'new', p.id
    FROM input i LEFT JOIN escalation_policies p ON p.id = i.escalation_policy_id
    WHERE (i.team, i.fingerprint) NOT IN (SELECT team, fingerprint FROM general)
    ORDER BY i.fingerprint, i.team
    ON CONFLICT (team, fingerprint) WHERE status IN ({_ACTIVE}) AND deduplicated = true
    DO UPDATE SET
        occurrences = a.occurrences + 1,
        last_seen_at = EXCLUDED.last_seen_at,
        message = EXCLUDED.message,
        details = EXCLUDED.details,
        channels = EXCLUDED.channels,
        severity = {_SEVERITY},
        last_notify_reason = {_REASON},
        suppressed_count = a.suppressed_count + CASE WHEN {_REASON} IS NULL THEN 1 ELSE 0 END,
        suppressed_streak = CASE WHEN {_REASON} IS NULL THEN a.suppressed_streak + 1 ELSE 0 END,
        next_escalation_at = CASE WHEN {_RAISED} AND a.escalation_policy_id IS NULL THEN {_NEXT}
            ELSE a.next_escalation_at END
    RETURNING {", ".join(f"a.{c}" for c in ALERT_COLUMNS)}, (a.xmax = 0) AS inserted
), events AS (
    INSERT INTO alert_events (alert_id, at, kind, actor, from_status, to_status, note, data)
    SELECT up.id, up.last_seen_at, 'created', i.source, NULL, 'open', NULL, '{{}}'::jsonb
    FROM up JOIN input i USING (team, fingerprint) WHERE up.inserted
    UNION ALL
    SELECT up.id, up.last_seen_at, 'severity_raised', i.source, NULL, NULL, NULL,
           jsonb_build_object('severity', up.severity)
    FROM up JOIN input i USING (team, fingerprint)
    WHERE NOT up.inserted AND up.last_notify_reason = ANY(@raise_reasons@)
    UNION ALL
    SELECT id, last_seen_at, 'notified', NULL, NULL, NULL, NULL,
           jsonb_build_object('reason', last_notify_reason, 'occurrences', occurrences)
    FROM up WHERE NOT inserted AND last_notify_reason IS NOT NULL
), queued AS (
    INSERT INTO notifications (id, alert_id, channel, reason, level, status, attempts, created_at, next_attempt_at)
    SELECT gen_random_uuid(), up.id, ch.name, up.last_notify_reason, up.escalation_level, 'pending', 0,
           up.last_seen_at, up.last_seen_at
    FROM up JOIN input i USING (team, fingerprint) CROSS JOIN LATERAL jsonb_array_elements_text(i.notify::jsonb) AS ch(name)
    WHERE up.last_notify_reason IS NOT NULL
    RETURNING alert_id
)
SELECT up.*, COALESCE(q.queued, 0) AS queued
FROM up LEFT JOIN (SELECT alert_id, count(*) AS queued FROM queued GROUP BY alert_id) q ON q.alert_id = up.id
"""


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _set_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=_json, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (a round trip per request): this
    pool runs autocommitted statements, and whole transactions
    (db/pg_batch.py), and never changes session state. A transaction left
    open is still rolled back on release (asyncpg does that before this)."""


def plain_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_pool(settings: Settings, *, size: int) -> asyncpg.Pool:
    """A pool for the one-statement paths. It connects lazily, so the
    service starts (and answers 503) while the database is down."""
    pool = await asyncpg.create_pool(
        plain_dsn(settings.database_url),
        min_size=0,
        max_size=size,
        timeout=settings.database_connect_timeout_seconds,
        init=_set_codecs,
        reset=_keep_session,
        # Behind a transaction-mode pooler, none of the session settings
        # below but the last: each statement is parsed and planned anew
        # (db/pooler.py).
        **pooler.connect_options(
            settings.database_pooler,
            command_timeout=settings.database_statement_timeout_seconds,
            server_settings={
                "statement_timeout": str(int(settings.database_statement_timeout_seconds * 1000)),
                "application_name": "alert-service-fast-path",
                # These statements are fixed and their plans do not depend on
                # the values; with custom plans PostgreSQL planned the ingest
                # statement anew at each execution, and planning took longer
                # than executing it (pg_stat_statements: 0.52 ms against 0.49
                # ms per statement). A generic plan is made once per connection.
                "plan_cache_mode": "force_generic_plan",
                "standard_conforming_strings": "on",  # the statement's constants (statement())
            },
        ),
    )
    assert pool is not None
    return pool


# Decisions -> the statement made from them. Holding the decisions keeps
# their id from being reused by other ones.
_STATEMENTS: dict[int, tuple[Decisions, str]] = {}


def statement(decisions: Decisions) -> str:
    """The ingest statement for these decisions, made once per Decisions."""
    cached = _STATEMENTS.get(id(decisions))
    if cached is None or cached[0] is not decisions:
        constants = {
            "severities": _array(decisions.severities, "text"),
            "statuses": _array(decisions.statuses, "text"),
            "reason": _array((o.reason for o in decisions.duplicate), "text"),
            "severity": _array((o.severity for o in decisions.duplicate), "text"),
            "raised": _array((o.raised for o in decisions.duplicate), "bool"),
            "after": _array((after for after, _ in decisions.reschedule), "float8"),
            "repeat": _array((repeat for _, repeat in decisions.reschedule), "float8"),
            "streak_limit": str(int(decisions.streak_limit)),
            "window": f"({_text(repr(decisions.window.total_seconds()))}::float8 * interval '1 second')",
            "policy": _text(decisions.policy),
            "raise_reasons": _array(decisions.raise_reasons(), "text"),
        }
        sql = _TEMPLATE
        for name, constant in constants.items():
            sql = sql.replace(f"@{name}@", constant)
        cached = _STATEMENTS[id(decisions)] = (decisions, sql)
    return cached[1]


def _text(value: str) -> str:
    """A SQL string literal (standard_conforming_strings, which the pool sets)."""
    return "'" + value.replace("'", "''") + "'"


def _array(values: Iterable[str | bool | float | None], kind: str) -> str:
    """A constant array: '{"severity",NULL}'::text[], '{t,f}'::bool[], '{30.0,NULL}'::float8[]."""

    def element(value: str | bool | float | None) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "t" if value else "f"
        if isinstance(value, float | int):
            return repr(float(value))
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return _text("{" + ",".join(element(value) for value in values) + "}") + f"::{kind}[]"


def arguments(batch: Sequence[IngestPlan]) -> list[Any]:
    """The statement's parameters for a batch, in order."""
    return [
        [item.team for item in batch],
        [item.fingerprint for item in batch],
        [item.now for item in batch],
        [item.id for item in batch],
        [item.alert_type for item in batch],
        [item.severity for item in batch],
        [item.message for item in batch],
        [item.source for item in batch],
        [_json(item.labels) for item in batch],
        [_json(item.details) for item in batch],
        [_json(item.channels) for item in batch],
        [_json(item.notify) for item in batch],
        [item.next_escalation_at for item in batch],
        [item.escalation_policy_id for item in batch],
    ]


async def upsert_many(
    pool: asyncpg.Pool, batch: Sequence[IngestPlan]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Run the statement for submissions of distinct identities; the alert
    row of each (with `inserted` and `queued`) by (team, fingerprint). An
    identity missing from the answer is one the ORM store must handle."""
    rows = await pg_pool.fetch(pool, statement(batch[0].decisions), *arguments(batch))
    return {(row["team"], row["fingerprint"]): dict(row) for row in rows}
