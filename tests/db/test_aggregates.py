"""Percentiles read at their rank from either end of an index, against
percentile_cont computed by hand, on both databases."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.aggregates import percentiles
from app.db.engine import create_engine
from app.models import OutboxRow

FRACTIONS = (0.0, 0.1, 0.25, 0.49, 0.5, 0.51, 0.9, 0.95, 0.99, 1.0)


def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    high = ordered[min(lower + 1, len(ordered) - 1)]
    return ordered[lower] + (high - ordered[lower]) * (position - lower)


def sent(channel: str, duration_ms: float | None) -> OutboxRow:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return OutboxRow(
        channel=channel,
        reason="new",
        status="sent",
        created_at=at,
        next_attempt_at=at,
        duration_ms=duration_ms,
    )


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 10, 41])
async def test_percentiles_from_either_end(clean_database: str, count: int) -> None:
    # Uneven gaps and ties, inserted out of order; a NULL and another channel
    # that the conditions leave out.
    values = [float((i * 37) % 11 + (i % 3) * 0.25 + i * i / 7) for i in range(count)]
    rows = [sent("c", v) for v in values] + [sent("c", None), sent("d", -1.0)]
    engine = create_engine(clean_database, pool_size=1)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            session.add_all(rows)
            await session.flush()
            where = [OutboxRow.status == "sent", OutboxRow.channel == "c"]
            found = await percentiles(session, OutboxRow.duration_ms, where, FRACTIONS, count=count)
    finally:
        await engine.dispose()
    expected = [percentile_cont(values, f) for f in FRACTIONS]
    assert found == pytest.approx(expected)
    assert found[FRACTIONS.index(0.5)] == pytest.approx(statistics.median(values))
