"""Percentiles the same way on PostgreSQL and SQLite.

SQLite has no percentile function, and PostgreSQL's percentile_cont sorts
every row each time. Both databases can instead read the value at a rank
straight from an index (ORDER BY value OFFSET rank LIMIT 2 over a partial
index on the column): with the count already known from the aggregate pass,
each percentile is one index-only walk. The walk starts from whichever end of
the index is nearer the rank (a p95 of a million rows steps over fifty
thousand entries, not 950 thousand), so only a median walks half the index.
The result is interpolated exactly as percentile_cont does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


async def percentiles(
    session: AsyncSession,
    value: ColumnElement[Any] | InstrumentedAttribute[Any],
    where: Sequence[ColumnElement[bool]],
    fractions: Sequence[float],
    *,
    count: int,
    source: FromClause | None = None,
) -> list[float | None]:
    """percentile_cont of `value` over the `count` non-null rows matching
    `where` (from `source` when the conditions span a join)."""
    if count == 0:
        return [None for _ in fractions]
    rows = select(value).where(*where, value.is_not(None))
    if source is not None:
        rows = rows.select_from(source)
    results: list[float | None] = []
    for fraction in fractions:
        position = fraction * (count - 1)
        lower = math.floor(position)
        if lower < count / 2:  # ranks lower and lower + 1, counted from the bottom
            bottom = rows.order_by(value).offset(lower).limit(2)
            neighbours = [float(v) for v in await session.scalars(bottom)]
        else:  # the same two ranks, counted from the top
            above = count - 2 - lower  # rows above rank lower + 1; -1 when lower is the top
            top = rows.order_by(value.desc()).offset(max(above, 0)).limit(2 if above >= 0 else 1)
            neighbours = [float(v) for v in await session.scalars(top)][::-1]
        results.append(interpolated(neighbours, position - lower))
    return results


def interpolated(neighbours: Sequence[float], fraction: float) -> float | None:
    """percentile_cont's value `fraction` of the way from the value at the
    rank to the next one (the last has none); None when the rows vanished
    since they were counted."""
    if not neighbours:
        return None
    high = neighbours[1] if len(neighbours) > 1 else neighbours[0]
    return neighbours[0] + (high - neighbours[0]) * fraction
