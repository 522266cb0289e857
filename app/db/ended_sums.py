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
commit.

A later migration that rebuilds `alerts` on SQLite (alembic's batch mode
copies the table into a new one) drops these triggers with the old table: it
must create them again. TRUNCATE on PostgreSQL fires no trigger either.

Only whole days can be read here: the ended alerts of a period's partial
first and last days are read from `alerts` by the caller (services/stats.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import EndedAlertDelta, EndedAlertSums, EndedAlertTotals

ENDED_STATUSES: tuple[str, ...] = ("resolved", "closed")
KEY = ("day", "team", "status", "severity", "alert_type")
MEASURES = (
    "alerts", "occurrences", "suppressed", "resolution_sum", "resolution_count",
    "ack_sum", "ack_count", "reached_2", "reached_3", "reached_4",
)  # fmt: skip
# Deltas folded per statement.
CHUNK = 5_000


def day_of(moment: datetime) -> datetime:
    """The start of the moment's day in UTC."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def whole_days(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None] | None:
    """The whole days [first, end) within [since, until) (None: unbounded on
    that side), or None when the period holds no whole day, or a bound is
    at the calendar's edge (its day, or the next, is past `datetime.max`)."""
    try:
        first = (
            None
            if since is None
            else day_of(since) + (timedelta(days=1) if since != day_of(since) else timedelta())
        )
        end = None if until is None else day_of(until)
    except OverflowError:
        return None  # the rows alone answer
    if first is not None and end is not None and first >= end:
        return None
    return first, end


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
    rows: list[tuple[Any, ...]] = []
    first, end = days
    summed: type[EndedAlertSums | EndedAlertTotals] = (
        EndedAlertTotals if first is None and end is None else EndedAlertSums
    )
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
        statement = (
            select(
                table.status,
                table.severity,
                table.alert_type,
                *(func.sum(getattr(table, name)) for name in MEASURES),
            )
            .where(*where)
            .group_by(table.status, table.severity, table.alert_type)
        )
        rows.extend(tuple(row) for row in await session.execute(statement))
    return rows


async def fold(session: AsyncSession) -> int:
    """Move up to CHUNK deltas into the sums; returns how many were moved.
    Each delta is deleted by the statement that reads it, so two replicas
    folding at once never count one twice; the sums are written in key
    order, so they wait for each other instead of deadlocking."""
    oldest = select(EndedAlertDelta.id).order_by(EndedAlertDelta.id).limit(CHUNK)
    moved = await session.execute(
        delete(EndedAlertDelta)
        .where(EndedAlertDelta.id.in_(oldest.scalar_subquery()))
        .returning(*(getattr(EndedAlertDelta, name) for name in KEY + MEASURES))
        .execution_options(synchronize_session=False)
    )
    totals: dict[tuple[Any, ...], list[Any]] = {}
    count = 0
    for row in moved:
        count += 1
        total = totals.setdefault(tuple(row[: len(KEY)]), [0] * len(MEASURES))
        for i, value in enumerate(row[len(KEY) :]):
            total[i] += value
    if not totals:
        return 0
    by_day = sorted(totals.items())
    await _add(session, by_day)
    overall: dict[tuple[Any, ...], list[Any]] = {}
    for day_key, day_values in by_day:
        kind = overall.setdefault(day_key[1:], [0] * len(MEASURES))
        for i, value in enumerate(day_values):
            kind[i] += value
    await _add_totals(session, sorted(overall.items()))
    return count


Totals = Sequence[tuple[tuple[Any, ...], list[Any]]]


async def _upsert(
    session: AsyncSession, table: type[EndedAlertSums | EndedAlertTotals], totals: Totals
) -> None:
    key = KEY if table is EndedAlertSums else KEY[1:]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: getattr(table, name) + getattr(statement.excluded, name) for name in MEASURES},
        ),
        [dict(zip(key + MEASURES, (*k, *values), strict=True)) for k, values in totals],
    )


async def _add(session: AsyncSession, totals: Totals) -> None:
    await _upsert(session, EndedAlertSums, totals)
    # A day whose ended alerts were all deleted (or reopened) keeps no row.
    await session.execute(
        delete(EndedAlertSums)
        .where(EndedAlertSums.alerts == 0, EndedAlertSums.day.in_(sorted({key[0] for key, _ in totals})))
        .execution_options(synchronize_session=False)
    )


async def _add_totals(session: AsyncSession, totals: Totals) -> None:
    await _upsert(session, EndedAlertTotals, totals)
    # Nor a kind (a few rows per team: the whole table is read).
    await session.execute(
        delete(EndedAlertTotals)
        .where(EndedAlertTotals.alerts == 0)
        .execution_options(synchronize_session=False)
    )
