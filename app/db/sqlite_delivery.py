"""The delivery worker's writes on SQLite: a claim, and a batch of sent
results, each one short write transaction run whole in one call
(db/sqlite_calls.py).

SQLite has one writer at a time. A burst of notifications (a batch of 1,000
new alerts queues 1,000) is delivered in a run of claims and results, each a
write transaction, and every submission meanwhile queues with them for the
write lock (db/engine.py). Through the ORM and aiosqlite a claim held the
lock for three statements and their hops to the driver's thread (the
UPDATE ... RETURNING, then reading the claimed rows' alerts as ORM objects
and the kept references), each waiting for a busy event loop; results the
same. Here:

- a claim is the one UPDATE ... RETURNING, built once (its compilation
  cached): the rows picked (oldest due first, channels not paused, an
  in-order channel's row after its alert's earlier ones) marked `sending`
  under a lease, their attempt counted, in one call; the claimed rows'
  alerts are read after its COMMIT, without the write lock (a claimed row
  whose alert is gone by then went with it: an alert's outbox rows are
  deleted with it), and the kept references and a digest's folded rows,
  when there are any, through the ORM's read;
- a batch of sent results is marked (the rows still ours, their lease
  unchanged) and counted on its alerts (`notifications_sent`) in one call:
  an UPDATE ... RETURNING per 200 rows and one executemany.

Both let the process's writers already waiting go first (deferrable), and
a claim and a batch of results asked for together share one transaction
(db/sqlite_calls.py). What is rare stays the ORM store's, in a transaction
of its own, deferrable too (db/orm_store.py): results that keep a
reference, failed attempts and rows handed back, and claims under flood
control, whose apportioning takes several statements (db/flood.py).
tests/contract holds it to the other stores' contract.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import channel_messages, flood, sent_results, transaction
from app.db.claims import CLAIMED, claimed_rows, due_rows, threaded
from app.db.sqlite_calls import OneCall
from app.db.store import ALERT_COLUMNS, ClaimedRow, FoldedRow, Sent
from app.models import Alert, OutboxRow


@functools.cache
def _claim(ordered: bool) -> Update:
    now = bindparam("now", type_=OutboxRow.next_attempt_at.type)
    due = due_rows(now, bindparam("in_order", expanding=True) if ordered else None)
    picked = (
        select(OutboxRow.id)
        .where(due)
        .order_by(OutboxRow.next_attempt_at)
        .limit(bindparam("limit", type_=Integer()))
        .scalar_subquery()
    )
    return (
        update(OutboxRow)
        .where(OutboxRow.id.in_(picked))
        .values(
            status="sending",
            lease_until=bindparam("lease_until", type_=OutboxRow.lease_until.type),
            attempts=OutboxRow.attempts + 1,
        )
        .returning(*CLAIMED)
    )


_ALERTS = select(*(getattr(Alert, name).label(name) for name in ALERT_COLUMNS)).where(
    Alert.id.in_(bindparam("ids", expanding=True))
)


async def claim(
    calls: OneCall,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    in_order: Sequence[str] = (),
) -> list[ClaimedRow]:
    """Store.claim without quotas."""
    lease_until = now + timedelta(seconds=lease_seconds)
    statement = _claim(bool(in_order))
    params: dict[str, Any] = {"now": now, "limit": limit, "lease_until": lease_until}
    if in_order:
        params["in_order"] = list(in_order)
    rows = await calls.write(lambda connection: list(connection.execute(statement, params).mappings()))
    if not rows:
        return []
    rows.sort(key=lambda row: row["next_attempt_at"])  # RETURNING keeps no order
    alert_ids = list({row["alert_id"] for row in rows if row["alert_id"] is not None})
    alerts: dict[uuid.UUID, dict[str, Any]] = {}
    if alert_ids:
        found = await calls.read(
            lambda connection: list(connection.execute(_ALERTS, {"ids": alert_ids}).mappings())
        )
        alerts = {alert["id"]: dict(alert) for alert in found}
    digests = [row["id"] for row in rows if row["reason"] == flood.DIGEST]
    ordered = threaded(rows, in_order)
    folded: dict[uuid.UUID, tuple[FoldedRow, ...]] = {}
    kept: dict[channel_messages.Key, dict[str, Any]] = {}
    if digests or ordered:

        async def details(session: AsyncSession) -> None:
            folded.update(await flood.folded_of(session, digests) if digests else {})
            kept.update(await channel_messages.read(session, ordered))

        await transaction.read(sessionmaker, details)
    # Read after COMMIT: an alert deleted meanwhile leaves its rows out.
    rows = [row for row in rows if row["alert_id"] is None or row["alert_id"] in alerts]
    return claimed_rows(rows, lease_until, alerts, folded, kept)


async def mark_sent(calls: OneCall, sent: Sequence[Sent], *, now: datetime) -> set[uuid.UUID]:
    """Mark sent the rows still ours and count them on their alerts; returns
    the ids marked. For results that keep no reference."""
    statements = list(sent_results.marking(sent, now=now))

    def mark(connection: Connection) -> set[uuid.UUID]:
        marked = [row for statement, params in statements for row in connection.execute(statement, params)]
        per_alert = Counter(alert_id for _, alert_id in marked if alert_id is not None)
        if per_alert:
            connection.execute(
                sent_results.ADD_SENT, [{"alert": alert, "sent": n} for alert, n in per_alert.items()]
            )
        return {row_id for row_id, _ in marked}

    return await calls.write(mark)
