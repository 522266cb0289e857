"""What a claim picks and what it hands back, shared by the stores' claims
(db/orm_store.py, db/sqlite_delivery.py, db/pg_store.py; PostgreSQL's own
statement, db/pg_delivery.py, picks the same rows in SQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlalchemy.orm import aliased

from app.db import flood
from app.db.store import ClaimedRow, FoldedRow
from app.models import OutboxRow

# What a claim's UPDATE ... RETURNING hands back of each row it took.
CLAIMED = (
    OutboxRow.id,
    OutboxRow.alert_id,
    OutboxRow.channel,
    OutboxRow.reason,
    OutboxRow.level,
    OutboxRow.attempts,
    OutboxRow.created_at,
    OutboxRow.next_attempt_at,
    OutboxRow.recipient,
)


def due_rows(
    now: datetime | ColumnElement[datetime], in_order: Sequence[str] | ColumnElement[Any] | None = None
) -> ColumnElement[bool]:
    """The outbox rows a claim may take at `now`: pending and due, or sending
    under an expired lease, of a channel not paused; with `in_order` (the
    channels' names), a row of those channels waits for its alert's earlier
    ones (Store.claim). Either may be a bound parameter."""
    due: ColumnElement[bool] = or_(
        (OutboxRow.status == "pending") & (OutboxRow.next_attempt_at <= now),
        (OutboxRow.status == "sending") & (OutboxRow.lease_until <= now),
    ) & flood.not_paused(now)
    if in_order is None:
        return due
    earlier = aliased(OutboxRow)
    waiting = exists().where(
        earlier.alert_id == OutboxRow.alert_id,
        earlier.channel == OutboxRow.channel,
        earlier.status.in_(("pending", "sending")),
        earlier.recipient.is_(None),
        or_(
            earlier.created_at < OutboxRow.created_at,
            and_(earlier.created_at == OutboxRow.created_at, earlier.id < OutboxRow.id),
        ),
    )
    return and_(
        due,
        or_(
            OutboxRow.alert_id.is_(None),
            OutboxRow.channel.not_in(in_order),
            OutboxRow.recipient.is_not(None),
            ~waiting,
        ),
    )


def claimed_row(
    row: Any,
    lease_until: datetime,
    alert: dict[str, Any] | None,
    folded: tuple[FoldedRow, ...] = (),
    reference: dict[str, Any] | None = None,
) -> ClaimedRow:
    return ClaimedRow(
        id=row["id"],
        alert_id=row["alert_id"],
        channel=row["channel"],
        reason=row["reason"],
        level=row["level"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        lease_until=lease_until,
        alert=alert,
        folded=folded,
        reference=reference,
        recipient=row["recipient"],
    )


def threaded(rows: Sequence[Any], in_order: Sequence[str]) -> list[tuple[Any, str]]:
    """The (alert, channel) pairs whose kept message a claim reads: channel
    rows of channels that thread an alert's messages in order."""
    return [
        (row["alert_id"], row["channel"])
        for row in rows
        if row["alert_id"] and row["channel"] in in_order and row["recipient"] is None
    ]


def claimed_rows(
    rows: Sequence[Any],
    lease_until: datetime,
    alerts: Mapping[Any, dict[str, Any]],
    folded: Mapping[Any, tuple[FoldedRow, ...]],
    kept: Mapping[tuple[Any, str], dict[str, Any]],
) -> list[ClaimedRow]:
    """Each claimed row with its alert, the rows a digest folds and its thread's kept message."""
    return [
        claimed_row(
            row,
            lease_until,
            alerts.get(row["alert_id"]),
            folded.get(row["id"], ()),
            kept.get((row["alert_id"], row["channel"])),
        )
        for row in rows
    ]
