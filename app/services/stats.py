"""GET /stats: every figure is a SQL aggregate; no alert row is loaded.

The period (since/until) selects alerts by first_seen_at, escalation events
by their time and notifications by their creation time. The filters
alert_type and source narrow all three to the matching alerts.

Cost: counts, sums and means of ended alerts come summed per day, team,
status, severity and type (db/ended_sums.py: they change only when an alert
ends, is reopened or deleted); a grouped pass over the rows (by status,
severity and type: a few thousand groups at most, folded here) adds the
active alerts and the ended ones of a period's partial first and last days.
Narrowed to a source, the pass covers every alert in scope (the sums are not
kept by source).
Percentiles over all time are found through counts of alerts per minute
(db/duration_buckets.py); a period's are read at their rank from partial
indexes (db/aggregates.py);
events are read through partial indexes as well, and the per-channel
figures come from services/channels.py, which owns them. No
covering index for the pass: it would hold columns every duplicate changes
(occurrences, last_seen_at), and so cost the ingest path an index entry per
duplicate instead of an in-place update. See bench/stats_bench.py for the
figures on a million alerts, bench/scale_bench.py for ten million.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import duration_buckets, ended_sums
from app.db.aggregates import percentiles
from app.models import ACTIVE_STATUSES, STATUSES, Alert, AlertEvent
from app.services import channels, silences
from app.settings import SEVERITIES, Settings

TOP_TYPES = 10
LEVELS = (2, 3, 4)


@dataclass(frozen=True, slots=True)
class StatsQuery:
    since: datetime | None = None
    until: datetime | None = None
    alert_type: str | None = None
    source: str | None = None
    team: str | None = None


def _narrowed(query: StatsQuery) -> list[ColumnElement[bool]]:
    """Conditions on Alert that also narrow joined tables (type, source, team)."""
    where: list[ColumnElement[bool]] = []
    if query.team is not None:
        where.append(Alert.team == query.team)
    if query.alert_type is not None:
        where.append(Alert.alert_type == query.alert_type)
    if query.source is not None:
        where.append(Alert.source == query.source)
    return where


def _period(column: Any, query: StatsQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.since is not None:
        where.append(column >= query.since)
    if query.until is not None:
        where.append(column < query.until)
    return where


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


async def compute(
    session: AsyncSession, *, query: StatsQuery, settings: Settings, now: datetime
) -> dict[str, Any]:
    where = [*_period(Alert.first_seen_at, query), *_narrowed(query)]
    sums = await _alert_sums(
        session, query, where, window_start=now - timedelta(minutes=settings.dedup_window_minutes)
    )
    total = sums["total"]
    res_p50, res_p90 = await _percentiles(session, query, where, "resolution", sums["resolution_count"])
    ack_p50, ack_p90 = await _percentiles(session, query, where, "acknowledge", sums["ack_count"])
    reopened = await _reopened(session, where)
    types = sums["by_type"].most_common()
    return {
        "period": {
            "since": query.since,
            "until": query.until,
            "alert_type": query.alert_type,
            "source": query.source,
        },
        "alerts": {
            "total": total,
            "active": sum(sums["by_status"][s] for s in ACTIVE_STATUSES),
            "resolved": sums["resolution_count"],
            "by_status": {status: sums["by_status"][status] for status in STATUSES},
            "by_severity": {severity: sums["by_severity"][severity] for severity in SEVERITIES},
            "by_type": dict(sorted(types[:TOP_TYPES], key=lambda kv: (-kv[1], kv[0]))),
            "other_types": sum(n for _, n in types[TOP_TYPES:]),
        },
        "resolution": {
            "mean_minutes": _mean(sums["resolution_sum"], sums["resolution_count"]),
            "median_minutes": res_p50,
            "p90_minutes": res_p90,
            "mean_minutes_to_acknowledge": _mean(sums["ack_sum"], sums["ack_count"]),
            "median_minutes_to_acknowledge": ack_p50,
            "p90_minutes_to_acknowledge": ack_p90,
            "reopened": reopened,
            "reopen_rate": _rate(reopened, total),
        },
        "deduplication": {
            "submissions": sums["submissions"],
            "duplicates": sums["submissions"] - total,
            "suppressed": sums["suppressed"],
            "suppression_rate": _rate(sums["suppressed"], sums["submissions"]),
            "active_fingerprints": sums["live"],
        },
        "escalation": {
            "alerts_reached_level": {str(level): sums["reached"][level] for level in LEVELS},
            "escalations_by_level": await _escalations(session, query),
        },
        "channels": await _channels(session, query, settings),
        "silences": asdict(await silences.figures(session, now=now)),
    }


def _counted(query: StatsQuery) -> bool:
    """Whether the bucket counts cover the query: all time, all types and sources."""
    return query.since is None and query.until is None and query.alert_type is None and query.source is None


async def _percentiles(
    session: AsyncSession, query: StatsQuery, where: list[ColumnElement[bool]], measure: str, count: int
) -> list[float | None]:
    """The median and p90 of a measure: over all time (at most narrowed to a
    team) found through its bucket counts (db/duration_buckets.py), else
    read at their ranks from the index (db/aggregates.py)."""
    if _counted(query):
        return await duration_buckets.percentiles(session, measure, (0.5, 0.9), team=query.team)
    value = duration_buckets.MEASURES[measure]
    return await percentiles(session, value, where, (0.5, 0.9), count=count)


async def _alert_sums(
    session: AsyncSession, query: StatsQuery, where: list[ColumnElement[bool]], *, window_start: datetime
) -> dict[str, Any]:
    """Every count and sum of the alerts in scope. Ended alerts of whole
    days come summed from db/ended_sums.py; the rest (active alerts, the
    ended ones of a period's partial first and last days) from a grouped
    pass over their rows. Narrowed to a source, everything comes from the
    rows (the sums are not kept by source; a source's alerts are few)."""
    days = ended_sums.whole_days(query.since, query.until)
    if query.source is not None or days is None:
        return _fold(await session.execute(_grouped_pass(where, window_start)))
    first, end = days
    rows = list(
        await session.execute(_grouped_pass([*where, Alert.status.in_(ACTIVE_STATUSES)], window_start))
    )
    ended = Alert.status.in_(ended_sums.ENDED_STATUSES)
    if first is not None and query.since is not None and query.since < first:
        rows += await session.execute(
            _grouped_pass([*where, ended, Alert.first_seen_at < first], window_start)
        )
    if end is not None and query.until is not None and end < query.until:
        rows += await session.execute(
            _grouped_pass([*where, ended, Alert.first_seen_at >= end], window_start)
        )
    summed = await ended_sums.grouped(session, days=days, team=query.team, alert_type=query.alert_type)
    # Ended alerts are never live: the window's count is 0 for each group.
    rows += [(*row[:10], 0, *row[10:]) for row in summed]
    return _fold(rows)


def _grouped_pass(where: list[ColumnElement[bool]], window_start: datetime) -> Select[Any]:
    """One grouped pass: the groups are status x severity x type, so the
    database returns a few thousand rows at most, folded here. What the
    group key already tells (is the status active?) is decided here, not per
    row; resolved_at and resolution_minutes are set and
    cleared together (services/lifecycle.py), so one count serves both."""
    statement = (
        select(
            Alert.status,
            Alert.severity,
            Alert.alert_type,
            func.count(),
            func.coalesce(func.sum(Alert.occurrences), 0),
            func.coalesce(func.sum(Alert.suppressed_count), 0),
            func.coalesce(func.sum(Alert.resolution_minutes), 0.0),
            func.count(Alert.resolution_minutes),
            func.coalesce(func.sum(Alert.acknowledge_minutes), 0.0),
            func.count(Alert.acknowledge_minutes),
            func.count().filter(Alert.last_seen_at >= window_start),
            *(func.count().filter(Alert.max_escalation_level >= level) for level in LEVELS),
        )
        .where(*where)
        .group_by(Alert.status, Alert.severity, Alert.alert_type)
    )
    return statement  # type: ignore[return-value]


def _fold(rows: Iterable[Any]) -> dict[str, Any]:
    sums: dict[str, Any] = {
        "total": 0, "submissions": 0, "suppressed": 0, "resolution_sum": 0.0,
        "resolution_count": 0, "ack_sum": 0.0, "ack_count": 0, "live": 0,
        "by_status": Counter(), "by_severity": Counter(), "by_type": Counter(), "reached": Counter(),
    }  # fmt: skip
    for (
        status,
        severity,
        alert_type,
        n,
        occ,
        supp,
        res_sum,
        res_count,
        ack_sum,
        ack_count,
        recent,
        *reached,
    ) in rows:
        sums["total"] += int(n)
        sums["submissions"] += int(occ)
        sums["suppressed"] += int(supp)
        sums["resolution_sum"] += float(res_sum or 0)
        sums["resolution_count"] += int(res_count)
        sums["ack_sum"] += float(ack_sum or 0)
        sums["ack_count"] += int(ack_count)
        sums["live"] += recent if status in ACTIVE_STATUSES else 0
        sums["by_status"][status] += int(n)
        sums["by_severity"][severity] += int(n)
        sums["by_type"][alert_type] += int(n)
        for level, count in zip(LEVELS, reached, strict=True):
            sums["reached"][level] += int(count)
    # Deltas may net a group to nothing: a type without alerts is not listed.
    sums["by_type"] = +sums["by_type"]
    return sums


async def _reopened(session: AsyncSession, where: list[ColumnElement[bool]]) -> int:
    statement = select(func.count(func.distinct(AlertEvent.alert_id))).where(
        AlertEvent.to_status == "reopened"
    )
    if where:
        statement = statement.join(Alert, Alert.id == AlertEvent.alert_id).where(*where)
    return int(await session.scalar(statement) or 0)


async def _escalations(session: AsyncSession, query: StatsQuery) -> dict[str, int]:
    level = AlertEvent.data["to_level"].as_integer()
    statement = (
        select(level, func.count())
        .where(AlertEvent.kind == "escalation", *_period(AlertEvent.at, query))
        .group_by(level)
    )
    narrowed = _narrowed(query)
    if narrowed:
        statement = statement.join(Alert, Alert.id == AlertEvent.alert_id).where(*narrowed)
    counts = {int(lvl): int(n) for lvl, n in await session.execute(statement)}
    return {str(lvl): counts.get(lvl, 0) for lvl in LEVELS}


async def _channels(
    session: AsyncSession, query: StatsQuery, settings: Settings
) -> dict[str, dict[str, Any]]:
    """Every configured channel, and any other that has notifications in scope."""
    figures = await channels.delivery_figures(
        session, since=query.since, until=query.until, narrowed=_narrowed(query), p95=True
    )
    return {
        name: asdict(figures.get(name, channels.NO_DELIVERY))
        for name in sorted(set(settings.channels) | set(figures))
    }
