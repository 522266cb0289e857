"""Aggregates whose SQL differs between PostgreSQL and SQLite.

Percentiles: PostgreSQL has percentile_cont. SQLite has none built in, so
there the value is read at its rank with ORDER BY ... LIMIT/OFFSET and
interpolated the way percentile_cont does; still no rows are loaded into
Python beyond the two neighbours of each rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Float, FromClause, Select, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


def minutes_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    """(later - earlier) in minutes, as a float expression."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", later - earlier) / 60.0, Float)
    return cast((func.julianday(later) - func.julianday(earlier)) * 1440.0, Float)


async def percentiles(
    session: AsyncSession,
    value: ColumnElement[Any] | InstrumentedAttribute[Any],
    where: Sequence[ColumnElement[bool]],
    fractions: Sequence[float],
    *,
    source: FromClause | None = None,
) -> list[float | None]:
    """percentile_cont of `value` over the rows matching `where` (from
    `source` when the conditions span a join); None when there are none."""
    dialect = session.get_bind().dialect.name
    condition = [*where, value.is_not(None)]

    def over(*columns: Any) -> Select[Any]:
        statement = select(*columns)
        return statement.select_from(source) if source is not None else statement

    if dialect == "postgresql":
        row = (
            await session.execute(
                over(*(func.percentile_cont(f).within_group(value) for f in fractions)).where(*condition)
            )
        ).one()
        return [None if v is None else float(v) for v in row]
    count = int(await session.scalar(over(func.count()).where(*condition)) or 0)
    if count == 0:
        return [None for _ in fractions]
    results: list[float | None] = []
    for fraction in fractions:
        position = fraction * (count - 1)
        lower = math.floor(position)
        neighbours = list(
            await session.scalars(over(value).where(*condition).order_by(value).limit(2).offset(lower))
        )
        low = float(neighbours[0])
        high = float(neighbours[1]) if len(neighbours) > 1 else low
        results.append(low + (high - low) * (position - lower))
    return results
