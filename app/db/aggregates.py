"""Percentiles the same way on PostgreSQL and SQLite.

SQLite has no percentile function, and PostgreSQL's percentile_cont sorts
every row each time. Both databases can instead read the value at a rank
straight from an index (ORDER BY value OFFSET rank LIMIT 2 over a partial
index on the column): with the count already known from the aggregate pass,
each percentile is one short index-only walk. The result is interpolated
exactly as percentile_cont does.
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
    statement = select(value).where(*where, value.is_not(None)).order_by(value)
    if source is not None:
        statement = statement.select_from(source)
    results: list[float | None] = []
    for fraction in fractions:
        position = fraction * (count - 1)
        lower = math.floor(position)
        neighbours = [float(v) for v in await session.scalars(statement.limit(2).offset(lower))]
        if not neighbours:  # rows vanished since the count: nothing to report
            results.append(None)
            continue
        high = neighbours[1] if len(neighbours) > 1 else neighbours[0]
        results.append(neighbours[0] + (high - neighbours[0]) * (position - lower))
    return results
