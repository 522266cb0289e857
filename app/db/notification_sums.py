"""Sums of notifications by day and channel: what the channel figures read
instead of the notifications.

Counts per status (pending counts sending too) and the latency sum and count
of the sent ones, per (day of created_at in UTC, channel), kept from signed
deltas that triggers on `notifications` write in the writing transaction
(migration 0021), folded by housekeeping (db/day_sums.py). A deleted
notification (housekeeping's retention, a cascade from its alert) takes its
counts with it, as it does from the rows: the figures are those of the
notifications that exist. Not keyed by the alert's type, source or team (an
alert's team may change after its notifications are written): a figure
narrowed to those is read from the rows.

A later migration that rebuilds `notifications` on SQLite (alembic's batch
mode) drops these triggers with the old table and must create them again;
TRUNCATE fires none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import day_sums
from app.models import NotificationDelta, NotificationSums, NotificationTotals

KEY = ("day", "channel")
MEASURES = ("sent", "failed", "pending", "silenced", "folded", "latency_sum", "latency_count")
ROLLUP = day_sums.Rollup(
    deltas=NotificationDelta,
    sums=NotificationSums,
    totals=NotificationTotals,
    key=KEY,
    measures=MEASURES,
    counts=("sent", "failed", "pending", "silenced", "folded"),
)
# The channel figures read here by whole days (a name of this module, so
# that a test can patch it to read every figure from the rows).
whole_days = day_sums.whole_days


async def grouped(
    session: AsyncSession, *, days: tuple[datetime | None, datetime | None]
) -> list[tuple[Any, ...]]:
    """Rows (channel, *MEASURES) of the notifications created in `days`, from
    the sums and the deltas not yet folded, read by one statement (one
    snapshot: a fold committing meanwhile is seen whole or not at all); a
    channel may repeat, and may net to zero."""
    first, end = days
    summed: Any = NotificationTotals if first is None and end is None else NotificationSums
    parts = []
    for table in (summed, NotificationDelta):
        where: list[ColumnElement[bool]] = []
        if first is not None:
            where.append(table.day >= first)
        if end is not None:
            where.append(table.day < end)
        parts.append(
            select(table.channel, *(func.sum(getattr(table, name)).label(name) for name in MEASURES))
            .where(*where)
            .group_by(table.channel)
        )
    return [tuple(row) for row in await session.execute(union_all(*parts))]


async def fold(session: AsyncSession) -> int:
    """Move up to CHUNK deltas into the sums (db/day_sums.py)."""
    return await day_sums.fold(session, ROLLUP)
