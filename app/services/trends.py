"""Figures over time, for the console's stats page: per bucket of a window,
the alerts by severity, their suppressed duplicates, acknowledge and resolve
times, escalations by level; over the window, the noisiest alert types and
sources and each channel's deliveries.

What is counted where, as GET /stats counts it: alerts, their occurrences
and suppressed duplicates, and their acknowledge and resolve times by when
the alert was first seen (so a bucket's occurrences include the duplicates
that came later, and its times those of the alerts it raised that have been
acknowledged or resolved so far); escalations by their time; notifications
by their creation time.

Cost: one grouped pass over the window's alerts (GROUPING SETS on
PostgreSQL: by bucket and severity, by type, by source) and one for the
percentiles, both through the first_seen_at index (the team's when the page
is narrowed to one); escalations through their partial index; notifications
through the index of sent ones by time (migration 0010). Delivery counts
and success rates come from services/channels.py, which owns them; only the
latency's median and p90 over the window are read here.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, join, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import series
from app.db.series import Spread as Spread  # the page reads it from here
from app.models import Alert, AlertEvent, OutboxRow
from app.services import channels as channel_figures
from app.settings import SEVERITIES

# The windows offered, each with the bucket that gives it 30 to 48 points.
SPANS: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=2)),
    "24h": (timedelta(hours=24), timedelta(minutes=30)),
    "7d": (timedelta(days=7), timedelta(hours=4)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
TOP = 10
LEVELS = (2, 3, 4)
FRACTIONS = (0.5, 0.9)


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until) in buckets of `step`, aligned on the epoch; the last
    bucket is the one `now` is in."""

    since: datetime
    until: datetime
    step: timedelta

    @classmethod
    def ending(cls, now: datetime, *, span: timedelta, step: timedelta) -> Window:
        seconds = int(step.total_seconds())
        current = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)
        until = current + step
        return cls(until - step * round(span / step), until, step)

    @property
    def starts(self) -> list[datetime]:
        return [self.since + self.step * i for i in range(round((self.until - self.since) / self.step))]


@dataclass(frozen=True, slots=True)
class Noisy:
    name: str
    alerts: int
    occurrences: int


@dataclass(frozen=True, slots=True)
class Ranking:
    """The top of one kind (alert types, sources) by alerts and by occurrences."""

    by_alerts: list[Noisy]
    by_occurrences: list[Noisy]


@dataclass(frozen=True, slots=True)
class ChannelTrend:
    name: str
    sent: int
    failed: int
    pending: int
    success_rate: float | None  # sent / (sent + failed)
    median_latency_ms: float | None
    p90_latency_ms: float | None


@dataclass(frozen=True, slots=True)
class Trends:
    window: Window
    alerts: dict[str, list[int]]  # severity -> per bucket
    occurrences: list[int]
    suppressed: list[int]
    acknowledge: list[Spread]  # minutes, per bucket
    acknowledge_overall: Spread
    resolve: list[Spread]
    resolve_overall: Spread
    escalations: dict[int, list[int]]  # level -> per bucket
    types: Ranking
    sources: Ranking
    channels: list[ChannelTrend]

    @property
    def total_alerts(self) -> int:
        return sum(sum(counts) for counts in self.alerts.values())

    @property
    def suppression_rate(self) -> float | None:
        submissions = sum(self.occurrences)
        return sum(self.suppressed) / submissions if submissions else None

    @property
    def suppression_rates(self) -> list[float | None]:
        return [s / o if o else None for s, o in zip(self.suppressed, self.occurrences, strict=True)]


async def compute(
    session: AsyncSession, *, window: Window, team: str | None, channels: Sequence[str]
) -> Trends:
    """The page's figures for `team` (None: every team); `channels` are the
    configured ones, shown even without a notification in the window."""
    narrowed = [Alert.team == team] if team is not None else []
    where = [Alert.first_seen_at >= window.since, Alert.first_seen_at < window.until, *narrowed]
    index = {start: i for i, start in enumerate(window.starts)}
    bucket = series.bucket_start(Alert.first_seen_at, window.step)

    async with series.planned_for_any_window(session):
        by_severity, by_type, by_source = await series.grouped_sums(
            session,
            groupings=[(bucket, Alert.severity), (Alert.alert_type,), (Alert.source,)],
            measures=[func.count(), func.sum(Alert.occurrences), func.sum(Alert.suppressed_count)],
            where=where,
        )
        times = await series.percentiles_by(
            session,
            key=bucket,
            values=[Alert.acknowledge_minutes, Alert.resolution_minutes],
            where=where,
            fractions=FRACTIONS,
            order_by=Alert.first_seen_at,
            overall=True,
        )
    alerts = {severity: [0] * len(index) for severity in SEVERITIES}
    occurrences, suppressed = [0] * len(index), [0] * len(index)
    for start, severity, n, occ, supp in by_severity:
        i = index[start]
        alerts[severity][i] += int(n)
        occurrences[i] += int(occ or 0)
        suppressed[i] += int(supp or 0)

    none = Spread(0, tuple(None for _ in FRACTIONS))
    per_bucket = [times.by_key.get(start, [none, none]) for start in window.starts]
    return Trends(
        window=window,
        alerts=alerts,
        occurrences=occurrences,
        suppressed=suppressed,
        acknowledge=[spreads[0] for spreads in per_bucket],
        acknowledge_overall=times.overall[0],
        resolve=[spreads[1] for spreads in per_bucket],
        resolve_overall=times.overall[1],
        escalations=await _escalations(session, window, index, team),
        types=_ranking(by_type),
        sources=_ranking(by_source),
        channels=await _channels(session, window, narrowed, channels),
    )


def _ranking(rows: list[tuple[Any, ...]]) -> Ranking:
    noisy = [Noisy(str(name), int(n), int(occ or 0)) for name, n, occ, _ in rows]
    return Ranking(
        by_alerts=heapq.nsmallest(TOP, noisy, key=lambda r: (-r.alerts, -r.occurrences, r.name)),
        by_occurrences=heapq.nsmallest(TOP, noisy, key=lambda r: (-r.occurrences, -r.alerts, r.name)),
    )


async def _escalations(
    session: AsyncSession, window: Window, index: dict[datetime, int], team: str | None
) -> dict[int, list[int]]:
    bucket = series.bucket_start(AlertEvent.at, window.step)
    level = AlertEvent.data["to_level"].as_integer()
    statement = (
        select(bucket, level, func.count())
        .where(AlertEvent.kind == "escalation", AlertEvent.at >= window.since, AlertEvent.at < window.until)
        .group_by(bucket, level)
    )
    if team is not None:
        # Escalations are few: each one's alert looked up by its key, rather
        # than a join that may read every alert of the team to hash them.
        owner = select(Alert.team).where(Alert.id == AlertEvent.alert_id).scalar_subquery()
        statement = statement.where(owner == team)
    counts = {lvl: [0] * len(index) for lvl in LEVELS}
    for start, lvl, n in await session.execute(statement):
        if lvl in counts:
            counts[lvl][index[start]] += int(n)
    return counts


async def _channels(
    session: AsyncSession,
    window: Window,
    narrowed: list[ColumnElement[bool]],
    configured: Sequence[str],
) -> list[ChannelTrend]:
    figures = await channel_figures.delivery_figures(
        session, since=window.since, until=window.until, narrowed=narrowed
    )
    latency = await series.percentiles_by(
        session,
        key=OutboxRow.channel,
        values=[OutboxRow.duration_ms],
        where=[
            OutboxRow.status == "sent",
            OutboxRow.created_at >= window.since,
            OutboxRow.created_at < window.until,
            *narrowed,
        ],
        fractions=FRACTIONS,
        order_by=OutboxRow.created_at,
        source=join(OutboxRow, Alert, Alert.id == OutboxRow.alert_id) if narrowed else None,
    )
    found = []
    for name in sorted(set(configured) | set(figures)):
        delivery = figures.get(name, channel_figures.NO_DELIVERY)
        [spread] = latency.by_key.get(name, [Spread(0, (None, None))])
        found.append(
            ChannelTrend(
                name=name,
                sent=delivery.sent,
                failed=delivery.failed,
                pending=delivery.pending,
                success_rate=delivery.success_rate,
                median_latency_ms=spread.percentiles[0],
                p90_latency_ms=spread.percentiles[1],
            )
        )
    return found
