"""Percentiles of resolution and acknowledge minutes found through bucket
counts (db/duration_buckets.py) equal the whole walk of the index
(db/aggregates.py), as the triggers keep the counts through inserts,
updates, team moves and deletes, before and after a fold, on both databases;
and the buckets are the same in Python and in each database's SQL."""

from __future__ import annotations

import importlib.util
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import day_sums, duration_buckets
from app.db.aggregates import percentiles
from app.db.engine import create_engine
from app.models import Alert, DurationBucketDelta, DurationBucketTotals


def _migration() -> Any:
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0018_duration_buckets.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


migration = _migration()

FRACTIONS = (0.0, 0.1, 0.25, 0.5, 0.5001, 0.9, 0.99, 1.0)
DAY = duration_buckets.DAY
# Values at and beside the edges of buckets, ties, and the long tail.
EDGES = [
    -3.0, 0.0, 0.5, 0.9999999999999999, 1.0, 59.99, 60.0, 61.5, 1439.0, 1439.9999999999998, 1440.0,
    1440.0000000000002, 1499.9999999999998, 1500.0, 1500.0000000000002, 1559.9999999999998, 1560.0,
    DAY + 60 * 1000 + 0.1, 10.0**7,
]  # fmt: skip

minutes = st.floats(min_value=-10.0, max_value=1e8, allow_nan=False)


@given(minutes, st.integers(min_value=-2, max_value=2_000_000))
def test_a_bucket_starts_exactly_at_its_lower_bound(value: float, index: int) -> None:
    assert (duration_buckets.bucket(value) >= index) == (value >= duration_buckets.lower_bound(index))


@given(st.integers(min_value=1, max_value=2_000_000))
def test_every_bucket_holds_its_lower_bound(index: int) -> None:
    start = duration_buckets.lower_bound(index)
    assert duration_buckets.bucket(start) == index
    assert duration_buckets.bucket(math.nextafter(start, -math.inf)) == index - 1


async def test_the_databases_bucket_as_python_does(clean_database: str) -> None:
    engine = create_engine(clean_database, pool_size=1)
    dialect = engine.dialect.name
    cast = "double precision" if dialect == "postgresql" else "REAL"
    values = EDGES + [DAY + 60 * k + d for k in (0, 1, 7, 999) for d in (-1e-9, 0.0, 1e-9, 59.999999)]
    try:
        async with engine.connect() as conn:
            for value in values:
                expression = migration.bucket_sql(dialect, f"CAST(:v AS {cast})")
                found = await conn.scalar(text(f"SELECT {expression}"), {"v": value})
                assert found == duration_buckets.bucket(value), value
    finally:
        await engine.dispose()


def _alert(team: str, resolution: float | None, acknowledge: float | None) -> Alert:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return Alert(
        team=team,
        fingerprint=uuid.uuid4().hex,
        alert_type="t",
        severity="high",
        message="m",
        source="s",
        labels={},
        details={},
        channels=[],
        status="resolved" if resolution is not None else "acknowledged",
        first_seen_at=at,
        last_seen_at=at,
        triggered_at=at,
        resolution_minutes=resolution,
        acknowledge_minutes=acknowledge,
        deduplicated=False,
    )


async def _agree(session: AsyncSession) -> None:
    for measure, value in duration_buckets.MEASURES.items():
        for team in (None, "blue", "green", "nobody"):
            where = [value.is_not(None)] + ([Alert.team == team] if team else [])
            count = int(await session.scalar(select(func.count()).where(*where)) or 0)
            walked = await percentiles(session, value, where, FRACTIONS, count=count)
            found = await duration_buckets.percentiles(session, measure, FRACTIONS, team=team)
            assert found == walked, (measure, team)


async def test_percentiles_through_the_counts_equal_the_whole_walk(clean_database: str) -> None:
    engine = create_engine(clean_database, pool_size=1)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessionmaker() as session, session.begin():
            assert await duration_buckets.percentiles(session, "resolution", (0.5,), team=None) == [None]
            alerts = [
                _alert("blue" if i % 3 else "green", EDGES[i % len(EDGES)] + (i // len(EDGES)) * 97.25, None)
                for i in range(90)
            ] + [_alert("blue", None, float(i % 4)) for i in range(9)]  # ties in one bucket
            session.add_all(alerts)
        async with sessionmaker() as session, session.begin():
            await _agree(session)
            # Changes of every kind, by SQL as any path would make them.
            ids = [a.id for a in alerts]
            await session.execute(
                update(Alert).where(Alert.id.in_(ids[:20])).values(resolution_minutes=None, status="open")
            )
            await session.execute(update(Alert).where(Alert.id.in_(ids[20:30])).values(team="green"))
            await session.execute(
                update(Alert)
                .where(Alert.id.in_(ids[30:40]))
                .values(resolution_minutes=Alert.resolution_minutes * 3)
            )
            await session.execute(update(Alert).where(Alert.id.in_(ids[85:])).values(acknowledge_minutes=2.5))
            await session.execute(delete(Alert).where(Alert.id.in_(ids[40:50])))
        async with sessionmaker() as session, session.begin():
            await _agree(session)
        async with sessionmaker() as session, session.begin():
            while await duration_buckets.fold(session) == day_sums.CHUNK:
                pass
            assert await session.scalar(select(func.count()).select_from(DurationBucketDelta)) == 0
            await _agree(session)
            await session.execute(delete(Alert))
            while await duration_buckets.fold(session) == day_sums.CHUNK:
                pass
            await _agree(session)
            # No bucket keeps a row of zeros.
            assert await session.scalar(select(func.count()).select_from(DurationBucketTotals)) == 0
    finally:
        await engine.dispose()


@pytest.mark.parametrize("rank", [0, 1, 2, 5, 6, 9])
def test_the_bucket_holding_a_rank(rank: int) -> None:
    buckets = [(0, 2), (3, 4), (10, 1), (11, 3)]
    flat = [index for index, n in buckets for _ in range(n)]
    index, below = duration_buckets._holding(buckets, rank)
    assert index == flat[rank] and below == flat.index(index)
