"""Exact percentiles of resolution and acknowledge minutes over all time,
without stepping over half an index.

db/aggregates.py reads a percentile at its rank from the value's index; an
index has no ranks, so a median steps over half of it (0.6 s at ten million
alerts). Here the alerts are also counted per (measure, team, bucket), a
bucket being a whole minute under a day and a whole hour after it (migration
0018). The counts tell which bucket holds a rank and how many values lie
below it; the walk then starts at the bucket's first value and steps only
inside it. The values read are the rows' own, interpolated as percentile_cont
does: the answer is the one the whole walk gives.

Triggers on `alerts` write every change to either measure as a signed delta
in the writing transaction; `fold` (run by housekeeping) moves them into
`duration_bucket_totals`, and readers add the deltas not yet folded, so the
counts are current at every commit. The buckets are computed by the same
truncation of IEEE doubles in Python and in both databases' SQL, so
`lower_bound` can give the exact first value of a bucket.

Only a period without bounds, narrowed at most to a team, is counted here: a
bounded period walks the rows of the period (db/aggregates.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.db import day_sums
from app.db.aggregates import interpolated
from app.models import Alert, DurationBucketDelta, DurationBucketTotals

DAY = 1440  # minutes: whole minutes below, whole hours above
MEASURES: dict[str, InstrumentedAttribute[float | None]] = {
    "resolution": Alert.resolution_minutes,
    "acknowledge": Alert.acknowledge_minutes,
}
ROLLUP = day_sums.Rollup(
    deltas=DurationBucketDelta,
    sums=None,
    totals=DurationBucketTotals,
    key=("measure", "team", "bucket"),
    measures=("alerts",),
    counts=("alerts",),
)


def bucket(minutes: float) -> int:
    """The bucket of a value, as migration 0018's SQL computes it."""
    if minutes < 0:
        return 0
    if minutes < DAY:
        return int(minutes)
    return DAY + int((minutes - DAY) / 60)


def lower_bound(index: int) -> float:
    """The least double whose bucket is `index` or above (-inf for the first):
    `value >= lower_bound(b)` holds exactly for the values of buckets >= b."""
    if index <= 0:
        return -math.inf
    guess = float(index) if index <= DAY else DAY + 60.0 * (index - DAY)
    while bucket(math.nextafter(guess, -math.inf)) >= index:
        guess = math.nextafter(guess, -math.inf)
    while bucket(guess) < index:
        guess = math.nextafter(guess, math.inf)
    return guess


async def counts(session: AsyncSession, measure: str, *, team: str | None) -> list[tuple[int, int]]:
    """(bucket, alerts) in bucket order, of the team's alerts (or every
    team's) with a value of `measure`: the totals and the deltas not yet folded."""
    summed: Counter[int] = Counter()
    for table in (DurationBucketTotals, DurationBucketDelta):
        where: list[ColumnElement[bool]] = [table.measure == measure]
        if team is not None:
            where.append(table.team == team)
        statement = select(table.bucket, func.sum(table.alerts)).where(*where).group_by(table.bucket)
        for index, alerts in await session.execute(statement):
            summed[int(index)] += int(alerts)
    return sorted((index, alerts) for index, alerts in summed.items() if alerts)


async def percentiles(
    session: AsyncSession, measure: str, fractions: Sequence[float], *, team: str | None
) -> list[float | None]:
    """percentile_cont of `measure` over every alert (of `team`) that has a value."""
    buckets = await counts(session, measure, team=team)
    total = sum(alerts for _, alerts in buckets)
    if total == 0:
        return [None for _ in fractions]
    value = MEASURES[measure]
    where: list[ColumnElement[bool]] = [value.is_not(None)]
    if team is not None:
        where.append(Alert.team == team)
    results: list[float | None] = []
    for fraction in fractions:
        position = fraction * (total - 1)
        lower = math.floor(position)
        index, below = _holding(buckets, lower)
        start = lower_bound(index)
        walk = select(value).where(*where).order_by(value).offset(lower - below).limit(2)
        if start != -math.inf:
            walk = walk.where(value >= start)
        neighbours = [float(v) for v in await session.scalars(walk) if v is not None]
        results.append(interpolated(neighbours, position - lower))
    return results


def _holding(buckets: list[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bucket that holds the value at `rank` (from 0), and how many
    values lie in the buckets before it."""
    below = 0
    for index, alerts in buckets:
        if rank < below + alerts:
            return index, below
        below += alerts
    return buckets[-1][0], below - buckets[-1][1]


async def fold(session: AsyncSession) -> int:
    """Move up to day_sums.CHUNK deltas into the totals; returns how many were moved."""
    return await day_sums.fold(session, ROLLUP)
