"""Marking delivered rows sent: the statements of the ORM store and of
SQLite's one-call path (db/sqlite_delivery.py). PostgreSQL's one-statement
store writes the same in one statement (db/pg_delivery.py)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Update, bindparam, select, union_all, update

from app.db.store import Sent
from app.models import Alert, OutboxRow

# Rows per statement: within SQLite's 500 terms of a compound SELECT and
# both databases' bound-parameter limits.
RECORD_CHUNK = 200


@functools.cache
def _mark_sent(size: int) -> Update:
    """UPDATE ... FROM (one SELECT of bound values per row, UNION ALL): the
    same SQL for every batch of a size, so its compilation is cached, unlike
    a VALUES list, and both databases accept it."""
    rows = [
        select(
            bindparam(f"id_{i}", type_=OutboxRow.id.type).label("id"),
            bindparam(f"lease_{i}", type_=OutboxRow.lease_until.type).label("lease_until"),
            bindparam(f"ms_{i}", type_=OutboxRow.duration_ms.type).label("duration_ms"),
        )
        for i in range(size)
    ]
    batch = (union_all(*rows) if size > 1 else rows[0]).cte("batch")
    return (
        update(OutboxRow)
        .where(
            OutboxRow.id == batch.c.id,
            OutboxRow.status == "sending",
            OutboxRow.lease_until == batch.c.lease_until,
        )
        .values(
            status="sent",
            sent_at=bindparam("now", type_=OutboxRow.sent_at.type),
            duration_ms=batch.c.duration_ms,
            lease_until=None,
            last_error=None,
        )
        .returning(OutboxRow.id, OutboxRow.alert_id)
        .execution_options(synchronize_session=False)
    )


def marking(sent: Sequence[Sent], *, now: datetime) -> Iterator[tuple[Update, dict[str, object]]]:
    """The statements marking `sent` (each returning the ids and alert ids
    of the rows it marked), with their parameters."""
    for first in range(0, len(sent), RECORD_CHUNK):
        chunk = sent[first : first + RECORD_CHUNK]
        params: dict[str, object] = {"now": now}
        for i, item in enumerate(chunk):
            params |= {
                f"id_{i}": item.row.id,
                f"lease_{i}": item.row.lease_until,
                f"ms_{i}": item.duration_ms,
            }
        yield _mark_sent(len(chunk)), params


# Per alert, the sent rows to add to its count: executemany of
# ({"alert": id, "sent": count}, ...).
ADD_SENT = (
    update(Alert)
    .where(Alert.id == bindparam("alert", type_=Alert.id.type))
    .values(
        notifications_sent=Alert.notifications_sent + bindparam("sent", type_=Alert.notifications_sent.type)
    )
)
