"""Sums by day kept from signed deltas: the folding both kinds share.

Triggers write each change to a table's figures as a signed delta row
(migrations 0016 for ended alerts, 0021 for notifications); `fold`, run by
housekeeping, moves the deltas into the sums by day and into the totals (the
same sums without the day: what a period without bounds reads). Readers add
the deltas not yet folded, so the answer is current at every commit. Only
whole days can be read from the sums: a period's partial first and last
days are read from the rows by the caller (`whole_days`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

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


@dataclass(frozen=True, slots=True)
class Rollup:
    """Deltas keyed by ("day", *key[1:]) with `measures`, folded into `sums`
    (the same key) and `totals` (without the day); or, without `sums`, keyed
    by `key` and folded into `totals` alone. A row whose `counts` measures
    fall to zero holds nothing and is dropped."""

    deltas: Any
    sums: Any | None
    totals: Any
    key: tuple[str, ...]
    measures: tuple[str, ...]
    counts: tuple[str, ...]  # all zero: the row counts nothing


async def fold(session: AsyncSession, rollup: Rollup) -> int:
    """Move up to CHUNK deltas into the sums; returns how many were moved.
    Each delta is deleted by the statement that reads it, so two replicas
    folding at once never count one twice; the sums are written in key
    order, so they wait for each other instead of deadlocking."""
    deltas, key, measures = rollup.deltas, rollup.key, rollup.measures
    oldest = select(deltas.id).order_by(deltas.id).limit(CHUNK)
    moved = await session.execute(
        delete(deltas)
        .where(deltas.id.in_(oldest.scalar_subquery()))
        .returning(*(getattr(deltas, name) for name in key + measures))
        .execution_options(synchronize_session=False)
    )
    totals: dict[tuple[Any, ...], list[Any]] = {}
    count = 0
    for row in moved:
        count += 1
        total = totals.setdefault(tuple(row[: len(key)]), [0] * len(measures))
        for i, value in enumerate(row[len(key) :]):
            total[i] += value
    if not totals:
        return 0
    if rollup.sums is None:  # totals alone, keyed as the deltas are
        await _upsert(session, rollup, rollup.totals, key, sorted(totals.items()))
        await _drop_empty(session, rollup, rollup.totals)
        return count
    by_day = sorted(totals.items())
    await _upsert(session, rollup, rollup.sums, key, by_day)
    # A day that no longer counts anything keeps no row.
    await _drop_empty(session, rollup, rollup.sums, rollup.sums.day.in_(sorted({k[0] for k, _ in by_day})))
    overall: dict[tuple[Any, ...], list[Any]] = {}
    for day_key, day_values in by_day:
        kind = overall.setdefault(day_key[1:], [0] * len(measures))
        for i, value in enumerate(day_values):
            kind[i] += value
    await _upsert(session, rollup, rollup.totals, key[1:], sorted(overall.items()))
    await _drop_empty(session, rollup, rollup.totals)  # a few rows: the whole table is read
    return count


Totals = Sequence[tuple[tuple[Any, ...], list[Any]]]


async def _upsert(
    session: AsyncSession, rollup: Rollup, table: Any, key: tuple[str, ...], totals: Totals
) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: getattr(table, name) + getattr(statement.excluded, name) for name in rollup.measures},
        ),
        [dict(zip(key + rollup.measures, (*k, *values), strict=True)) for k, values in totals],
    )


async def _drop_empty(session: AsyncSession, rollup: Rollup, table: Any, *where: Any) -> None:
    await session.execute(
        delete(table)
        .where(*(getattr(table, name) == 0 for name in rollup.counts), *where)
        .execution_options(synchronize_session=False)
    )
