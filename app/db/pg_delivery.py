"""The PostgreSQL delivery statements: a claim and a batch of sent results,
each one statement in autocommit, on the asyncpg pool of the ingest path.

Under a burst every submission can queue a notification, and the delivery
worker then claims and records as often as the service answers. Through the
ORM a claim was a transaction of four round trips (BEGIN, the claim, the
alerts, COMMIT) and a batch of results six; it cost the service about as
much CPU as the submissions themselves (profiled with py-spy). Here:

- the claim picks the due rows of channels not paused by their provider
  (FOR UPDATE SKIP LOCKED, so replicas never claim the same row; a row of
  an in-order channel waits for its alert's earlier ones), marks them
  `sending` under a lease, counts the attempt and reads their alerts and
  kept references, in one statement;
- a batch of sent results marks each row sent if it is still ours (its
  lease unchanged), keeps the references the deliveries returned and adds
  to its alert's `notifications_sent`, in one statement. The alerts are locked in the ingest statement's order (by
  fingerprint) first, so neither two batches nor a batch and an ingest
  statement can deadlock.

db/orm_store.py writes the same through the ORM (on SQLite, and here for
failed attempts, which are rare, and for claims under flood control, whose
apportioning takes several statements: db/flood.py); tests/contract holds
both to one contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.db import pg_pool
from app.db.store import ALERT_COLUMNS as RETURNED

_ALERT = ", ".join(f"a.{column} AS a_{column}" for column in RETURNED)

# $4: the channels whose rows of one alert wait for the earlier ones (db/store.py `claim`).
CLAIM = f"""
WITH picked AS (
    SELECT n.id FROM notifications n
    WHERE ((n.status = 'pending' AND n.next_attempt_at <= $1) OR (n.status = 'sending' AND n.lease_until <= $1))
      AND n.channel NOT IN (SELECT channel FROM channel_states WHERE paused_until > $1)
      AND (n.alert_id IS NULL OR n.channel <> ALL($4::text[]) OR n.recipient IS NOT NULL OR NOT EXISTS (
          SELECT 1 FROM notifications e
          WHERE e.alert_id = n.alert_id AND e.channel = n.channel AND e.status IN ('pending', 'sending')
            AND e.recipient IS NULL AND (e.created_at, e.id) < (n.created_at, n.id)))
    ORDER BY n.next_attempt_at
    LIMIT $2
    FOR UPDATE OF n SKIP LOCKED
), claimed AS (
    UPDATE notifications n SET status = 'sending', lease_until = $3, attempts = n.attempts + 1
    FROM picked WHERE n.id = picked.id
    RETURNING n.id, n.alert_id, n.channel, n.reason, n.level, n.attempts, n.created_at, n.next_attempt_at,
        n.recipient
)
SELECT c.*, cm.reference, {_ALERT}
FROM claimed c LEFT JOIN alerts a ON a.id = c.alert_id
LEFT JOIN channel_messages cm ON cm.alert_id = c.alert_id AND cm.channel = c.channel AND c.recipient IS NULL
ORDER BY c.next_attempt_at
"""

# The references a delivery asked to keep ($5, JSON text or NULL) are
# written for the rows marked, in the same statement (db/channel_messages.py).
MARK_SENT = """
WITH batch AS (
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[], $5::text[])
        AS b(id, lease_until, duration_ms, reference)
), marked AS (
    UPDATE notifications n
    SET status = 'sent', sent_at = $4, duration_ms = b.duration_ms, lease_until = NULL, last_error = NULL
    FROM batch b
    WHERE n.id = b.id AND n.status = 'sending' AND n.lease_until = b.lease_until
    RETURNING n.id, n.alert_id, n.channel
), kept AS (
    INSERT INTO channel_messages (alert_id, channel, reference, updated_at)
    SELECT DISTINCT ON (m.alert_id, m.channel) m.alert_id, m.channel, b.reference::jsonb, $4
    FROM marked m JOIN batch b ON b.id = m.id
    WHERE b.reference IS NOT NULL AND m.alert_id IS NOT NULL
    ORDER BY m.alert_id, m.channel
    ON CONFLICT (alert_id, channel) DO UPDATE
    SET reference = EXCLUDED.reference, updated_at = EXCLUDED.updated_at
), locked AS (
    SELECT a.id FROM alerts a
    WHERE a.id IN (SELECT alert_id FROM marked)
    ORDER BY a.fingerprint, a.id
    FOR NO KEY UPDATE  -- the lock the UPDATE below takes, taken first in this order
), counted AS (
    UPDATE alerts a SET notifications_sent = a.notifications_sent + m.sent
    FROM (SELECT alert_id, count(*) AS sent FROM marked GROUP BY alert_id) m, locked l
    WHERE a.id = m.alert_id AND l.id = a.id
)
SELECT id FROM marked
"""


async def claim(
    pool: asyncpg.Pool, *, now: datetime, limit: int, lease_seconds: float, in_order: Sequence[str] = ()
) -> tuple[datetime, list[tuple[asyncpg.Record, dict[str, Any] | None]]]:
    """The lease given, and per claimed row (oldest due first) the row, with
    the reference kept for its alert and channel, and its alert's columns
    (None for a notification of no alert)."""
    lease_until = now + timedelta(seconds=lease_seconds)
    rows = await pg_pool.fetch(pool, CLAIM, now, limit, lease_until, list(in_order))
    return lease_until, [
        (row, None if row["alert_id"] is None else {c: row[f"a_{c}"] for c in RETURNED}) for row in rows
    ]


async def mark_sent(
    pool: asyncpg.Pool,
    sent: Sequence[tuple[uuid.UUID, datetime, float, dict[str, Any] | None]],
    *,
    now: datetime,
) -> set[uuid.UUID]:
    """Mark sent the (id, lease, duration in ms, reference to keep) rows
    still ours, keeping their references; returns their ids."""
    if not sent:
        return set()
    ids, leases, durations, references = (list(column) for column in zip(*sent, strict=True))
    kept = [None if ref is None else orjson.dumps(ref).decode() for ref in references]
    rows = await pg_pool.fetch(pool, MARK_SENT, ids, leases, durations, now, kept)
    return {row["id"] for row in rows}
