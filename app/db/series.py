"""Figures over a window of time, per bucket, the same on PostgreSQL and SQLite.

Three things differ between the databases, and are written once here:

- The bucket of a moment (`bucket_start`): `date_bin` on PostgreSQL;
  epoch seconds divided by the step on SQLite. Buckets are aligned on the
  epoch, so an hour's buckets start on the hour and a day's at midnight UTC.
  The step is written into the statement, not bound: PostgreSQL must see
  the same expression in the select list and in GROUP BY.
- Several groupings of one window's rows (`grouped_sums`): one pass with
  GROUPING SETS on PostgreSQL; one grouped query per grouping on SQLite,
  which has no grouping sets (and no network between it and the service).
- Percentiles per group (`percentiles_by`): `percentile_cont` on
  PostgreSQL; on SQLite the window's rows are read in the order of the index
  that selects them and the percentiles computed here, interpolated exactly
  as percentile_cont does.

Alerts are written as they happen, so a window's alerts sit together on
the table's pages, and reading them through the time index beats a scan of
the table even when the window holds half of it (measured on 10^5 alerts
over 69 days: a 30-day window read through the index in 14 ms, the table
scanned in 34 to 49). PostgreSQL estimates otherwise for a window given as
literal bounds; inside `planned_for_any_window` statements are planned as
prepared statements generically are, for "a window" whatever its size,
which reads it through its index. Only there: a generic plan cannot use a
partial index whose condition the statement states with a bound value
(`status = $1`), so statements that rely on one stay outside.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Select,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler

from app.db.types import UTCDateTime

# A column of a model, or any SQL expression.
Expression = ColumnElement[Any] | InstrumentedAttribute[Any]


class BucketStart(ColumnElement[datetime]):
    inherit_cache = False
    type = UTCDateTime()

    def __init__(self, column: ColumnElement[datetime] | Any, seconds: int) -> None:
        self.column = column
        self.seconds = seconds


def bucket_start(column: Any, step: timedelta) -> ColumnElement[datetime]:
    """The start of the bucket of `step` that holds the column's moment."""
    seconds = int(step.total_seconds())
    if seconds <= 0 or seconds != step.total_seconds():
        raise ValueError(f"a bucket is a whole number of seconds, not {step}")
    return BucketStart(column, seconds)


@compiles(BucketStart, "postgresql")
def _date_bin(element: BucketStart, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"date_bin(INTERVAL '{element.seconds} seconds', {column}, TIMESTAMPTZ '1970-01-01 00:00:00+00')"


@compiles(BucketStart)
def _epoch_division(element: BucketStart, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps moments as naive UTC text, which strftime reads as UTC.
    column = compiler.process(element.column, **kw)
    seconds = element.seconds
    return f"datetime((CAST(strftime('%s', {column}) AS INTEGER) / {seconds}) * {seconds}, 'unixepoch')"


def _is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@asynccontextmanager
async def planned_for_any_window(session: AsyncSession) -> AsyncIterator[None]:
    """Statements run inside are planned for a window of any size (see the
    top of this module). Nothing to do on SQLite, whose planner always takes
    the index of a range."""
    if not _is_postgresql(session):
        yield
        return
    await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    yield
    await session.execute(text("SET LOCAL plan_cache_mode TO DEFAULT"))


def _over(statement: Select[Any], source: FromClause | None) -> Select[Any]:
    return statement.select_from(source) if source is not None else statement


async def grouped_sums(
    session: AsyncSession,
    *,
    groupings: Sequence[Sequence[Expression]],
    measures: Sequence[ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]],
    source: FromClause | None = None,
) -> list[list[tuple[Any, ...]]]:
    """For each grouping (a list of key columns), its rows: the keys, then
    the measures (aggregates) over the rows matching `where`."""
    if len(groupings) == 1 or not _is_postgresql(session):
        each = []
        for keys in groupings:
            statement = select(*keys, *measures).where(*where).group_by(*keys)
            each.append([tuple(row) for row in await session.execute(_over(statement, source))])
        return each
    keys = _distinct(key for grouping in groupings for key in grouping)
    # GROUPING(k1, k2, ...) sets a bit, first key highest, for each key a
    # row is not grouped by: it tells which grouping a row belongs to.
    masks = {
        sum(1 << (len(keys) - 1 - i) for i, key in enumerate(keys) if not _holds(grouping, key)): n
        for n, grouping in enumerate(groupings)
    }
    statement = (
        select(*keys, func.grouping(*keys), *measures)
        .where(*where)
        .group_by(func.grouping_sets(*(tuple_(*grouping) for grouping in groupings)))
    )
    found: list[list[tuple[Any, ...]]] = [[] for _ in groupings]
    for row in await session.execute(_over(statement, source)):
        grouping = groupings[masks[row[len(keys)]]]
        found[masks[row[len(keys)]]].append(
            (*(row[i] for i, key in enumerate(keys) if _holds(grouping, key)), *row[len(keys) + 1 :])
        )
    return found


def _holds(columns: Sequence[Expression], column: Expression) -> bool:
    return any(c is column for c in columns)  # `==` would build SQL


def _distinct(columns: Any) -> list[Expression]:
    seen: list[Expression] = []
    for column in columns:
        if not _holds(seen, column):
            seen.append(column)
    return seen


@dataclass(frozen=True, slots=True)
class Spread:
    """How many values, and their percentiles in the order asked for."""

    count: int = 0
    percentiles: tuple[float | None, ...] = ()


@dataclass(slots=True)
class SpreadsBy:
    """Per key, one Spread per value column; `overall` over every key."""

    by_key: dict[Any, list[Spread]] = field(default_factory=dict)
    overall: list[Spread] = field(default_factory=list)


async def percentiles_by(
    session: AsyncSession,
    *,
    key: Expression,
    values: Sequence[Expression],
    where: Sequence[ColumnElement[bool]],
    fractions: Sequence[float],
    order_by: Expression,
    overall: bool = False,
    source: FromClause | None = None,
) -> SpreadsBy:
    """percentile_cont of each value column (NULLs left out) per key, and
    over every key when `overall`, for the rows matching `where`; `order_by`
    is the column of the index that selects those rows (SQLite reads them in
    its order)."""
    where = [*where, or_(*(value.is_not(None) for value in values))]
    empty = [Spread(0, tuple(None for _ in fractions)) for _ in values]
    result = SpreadsBy(overall=list(empty))
    if _is_postgresql(session):
        # Written into the statement: a bound array costs asyncpg a look-up
        # of its type on each new connection.
        wanted = literal_column(f"ARRAY[{', '.join(repr(float(f)) for f in fractions)}]", ARRAY(Float))
        aggregates = []
        for value in values:
            aggregates += [func.count(value), func.percentile_cont(wanted).within_group(value)]
        statement = select(key, func.grouping(key), *aggregates).where(*where)
        # Each grouping sorts the values again: the overall one only when asked.
        statement = statement.group_by(func.grouping_sets(tuple_(key), tuple_()) if overall else key)
        for row in await session.execute(_over(statement, source)):
            spreads = [
                Spread(int(row[2 + 2 * i]), tuple(row[3 + 2 * i] or (None for _ in fractions)))
                for i in range(len(values))
            ]
            if row[1]:
                result.overall = spreads
            else:
                result.by_key[row[0]] = spreads
        return result
    statement = select(key, *values).where(*where)
    if source is None:  # joined, the rows come in the join's order: sorting them would be waste
        statement = statement.order_by(order_by)
    columns: dict[Any, list[list[float]]] = {}
    everything: list[list[float]] = [[] for _ in values]
    for row in await session.execute(_over(statement, source)):
        lists = columns.setdefault(row[0], [[] for _ in values])
        for i, value in enumerate(row[1:]):
            if value is not None:
                lists[i].append(float(value))
                everything[i].append(float(value))
    for found, lists in columns.items():
        result.by_key[found] = [_spread(sorted(v), fractions) for v in lists]
    if columns and overall:
        result.overall = [_spread(sorted(v), fractions) for v in everything]
    return result


def _spread(ordered: list[float], fractions: Sequence[float]) -> Spread:
    return Spread(len(ordered), tuple(interpolate(ordered, f) for f in fractions))


def interpolate(ordered: Sequence[float], fraction: float) -> float | None:
    """percentile_cont of sorted values: between the two nearest ranks."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
