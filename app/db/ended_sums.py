"""Sums of ended alerts by day: what GET /stats reads instead of them.

An ended (resolved or closed) alert's figures never change until it is
reopened or deleted, so they are kept summed per (day of first_seen_at in
UTC, team, status, severity, alert_type). Triggers on `alerts` (migration
0016) write every change to an ended alert as a signed delta row in the
same transaction, on both databases and whatever path wrote the alert;
`fold` (run by housekeeping) moves the deltas into `ended_alert_sums` and
into `ended_alert_totals`, the same sums without the day (what a period
without bounds reads: a few rows per kind instead of one per kind and day).
Readers add the deltas not yet folded, so the answer is current at every
commit. The folding is db/day_sums.py's, shared with the notifications' sums.

A later migration that rebuilds `alerts` on SQLite (alembic's batch mode
copies the table into a new one) drops these triggers with the old table: it
must create them again. TRUNCATE on PostgreSQL fires no trigger either.

Only whole days can be read here: the ended alerts of a period's partial
first and last days are read from `alerts` by the caller (services/stats.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import day_sums
from app.models import EndedAlertDelta, EndedAlertSums, EndedAlertTotals

ENDED_STATUSES: tuple[str, ...] = ("resolved", "closed")
KEY = ("day", "team", "status", "severity", "alert_type")
MEASURES = (
    "alerts", "occurrences", "suppressed", "resolution_sum", "resolution_count",
    "ack_sum", "ack_count", "reached_2", "reached_3", "reached_4",
)  # fmt: skip
CHUNK = day_sums.CHUNK
ROLLUP = day_sums.Rollup(
    deltas=EndedAlertDelta,
    sums=EndedAlertSums,
    totals=EndedAlertTotals,
    key=KEY,
    measures=MEASURES,
    counts=("alerts",),
)
# The stats read here by whole days (a name of this module, so that a test can
# patch it to read every figure from the rows).
whole_days = day_sums.whole_days


async def grouped(
    session: AsyncSession,
    *,
    days: tuple[datetime | None, datetime | None],
    team: str | None,
    alert_type: str | None,
) -> list[tuple[Any, ...]]:
    """Rows (status, severity, alert_type, alerts, occurrences, suppressed,
    resolution_sum, resolution_count, ack_sum, ack_count, reached_2..4) of
    the ended alerts first seen in `days`, from the sums and the deltas not
    yet folded; a group may repeat, and may net to zero."""
    first, end = days
    summed: type[EndedAlertSums | EndedAlertTotals] = (
        EndedAlertTotals if first is None and end is None else EndedAlertSums
    )
    parts = []
    for table in (summed, EndedAlertDelta):
        where: list[ColumnElement[bool]] = []
        if first is not None:
            where.append(table.day >= first)  # type: ignore[union-attr]
        if end is not None:
            where.append(table.day < end)  # type: ignore[union-attr]
        if team is not None:
            where.append(table.team == team)
        if alert_type is not None:
            where.append(table.alert_type == alert_type)
        parts.append(
            select(
                table.status,
                table.severity,
                table.alert_type,
                *(func.sum(getattr(table, name)).label(name) for name in MEASURES),
            )
            .where(*where)
            .group_by(table.status, table.severity, table.alert_type)
        )
    # One statement, one snapshot: a fold committing meanwhile is seen whole
    # or not at all (two reads could miss the deltas it moved).
    return [tuple(row) for row in await session.execute(union_all(*parts))]


async def fold(session: AsyncSession) -> int:
    """Move up to CHUNK deltas into the sums (db/day_sums.py)."""
    return await day_sums.fold(session, ROLLUP)
