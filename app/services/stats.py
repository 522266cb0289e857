"""GET /stats: every figure is a SQL aggregate; no alert row is loaded.

The period (since/until) selects alerts by first_seen_at, escalation events
by their time and notifications by their creation time. The filters
alert_type and source narrow all three to the matching alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, func, join, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.aggregates import minutes_between, percentiles
from app.models import ACTIVE_STATUSES, Alert, AlertEvent, Notification
from app.settings import SEVERITIES, Settings

TOP_TYPES = 10


@dataclass(frozen=True, slots=True)
class StatsQuery:
    since: datetime | None = None
    until: datetime | None = None
    alert_type: str | None = None
    source: str | None = None


def _alert_filter(query: StatsQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.since is not None:
        where.append(Alert.first_seen_at >= query.since)
    if query.until is not None:
        where.append(Alert.first_seen_at < query.until)
    if query.alert_type is not None:
        where.append(Alert.alert_type == query.alert_type)
    if query.source is not None:
        where.append(Alert.source == query.source)
    return where


def _narrowed(query: StatsQuery) -> list[ColumnElement[bool]]:
    """Conditions on Alert for tables joined to it (type/source only)."""
    where: list[ColumnElement[bool]] = []
    if query.alert_type is not None:
        where.append(Alert.alert_type == query.alert_type)
    if query.source is not None:
        where.append(Alert.source == query.source)
    return where


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


async def compute(
    session: AsyncSession, *, query: StatsQuery, settings: Settings, now: datetime
) -> dict[str, Any]:
    dialect = session.get_bind().dialect.name
    where = _alert_filter(query)
    active = Alert.status.in_(ACTIVE_STATUSES)
    resolution = Alert.resolution_minutes
    to_ack = minutes_between(Alert.acknowledged_at, Alert.triggered_at, dialect)
    window_start = now - timedelta(minutes=settings.dedup_window_minutes)

    totals = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(active),
                func.count().filter(Alert.resolved_at.is_not(None)),
                func.coalesce(func.sum(Alert.occurrences), 0),
                func.coalesce(func.sum(Alert.suppressed_count), 0),
                func.count().filter(active, Alert.last_seen_at >= window_start),
                func.avg(resolution),
                func.avg(to_ack),
                *(func.count().filter(Alert.max_escalation_level >= level) for level in (2, 3, 4)),
            ).where(*where)
        )
    ).one()
    (
        total,
        active_count,
        resolved,
        submissions,
        suppressed,
        live_fingerprints,
        mean_res,
        mean_ack,
        *reached,
    ) = totals
    total, submissions, suppressed = int(total), int(submissions), int(suppressed)

    res_p50, res_p90 = await percentiles(session, resolution, where, (0.5, 0.9))
    ack_p50, ack_p90 = await percentiles(
        session, to_ack, [*where, Alert.acknowledged_at.is_not(None)], (0.5, 0.9)
    )

    by_status = await _grouped(session, Alert.status, where)
    by_severity = await _grouped(session, Alert.severity, where)
    by_type_rows = (
        await session.execute(
            select(Alert.alert_type, func.count())
            .where(*where)
            .group_by(Alert.alert_type)
            .order_by(func.count().desc(), Alert.alert_type)
        )
    ).all()
    by_type = {name: int(n) for name, n in by_type_rows[:TOP_TYPES]}
    rest = sum(int(n) for _, n in by_type_rows[TOP_TYPES:])

    reopened = int(
        await session.scalar(
            select(func.count(func.distinct(AlertEvent.alert_id)))
            .join(Alert, Alert.id == AlertEvent.alert_id)
            .where(*where, AlertEvent.kind == "status", AlertEvent.to_status == "reopened")
        )
        or 0
    )

    return {
        "period": {
            "since": query.since,
            "until": query.until,
            "alert_type": query.alert_type,
            "source": query.source,
        },
        "alerts": {
            "total": total,
            "active": int(active_count),
            "resolved": int(resolved),
            "by_status": {
                status: by_status.get(status, 0)
                for status in ("open", "acknowledged", "in_progress", "resolved", "closed", "reopened")
            },
            "by_severity": {severity: by_severity.get(severity, 0) for severity in SEVERITIES},
            "by_type": by_type,
            "other_types": rest,
        },
        "resolution": {
            "mean_minutes": _float(mean_res),
            "median_minutes": res_p50,
            "p90_minutes": res_p90,
            "mean_minutes_to_acknowledge": _float(mean_ack),
            "median_minutes_to_acknowledge": ack_p50,
            "p90_minutes_to_acknowledge": ack_p90,
            "reopened": reopened,
            "reopen_rate": _rate(reopened, total),
        },
        "deduplication": {
            "submissions": submissions,
            "duplicates": submissions - total,
            "suppressed": suppressed,
            "suppression_rate": _rate(suppressed, submissions),
            "active_fingerprints": int(live_fingerprints),
        },
        "escalation": {
            "alerts_reached_level": {str(level): int(n) for level, n in zip((2, 3, 4), reached, strict=True)},
            "escalations_by_level": await _escalations(session, query),
        },
        "channels": await _channels(session, query, settings),
    }


async def _grouped(session: AsyncSession, column: Any, where: list[ColumnElement[bool]]) -> dict[str, int]:
    rows = await session.execute(select(column, func.count()).where(*where).group_by(column))
    return {str(key): int(n) for key, n in rows}


async def _escalations(session: AsyncSession, query: StatsQuery) -> dict[str, int]:
    level = AlertEvent.data["to_level"].as_integer()
    where: list[ColumnElement[bool]] = [AlertEvent.kind == "escalation"]
    if query.since is not None:
        where.append(AlertEvent.at >= query.since)
    if query.until is not None:
        where.append(AlertEvent.at < query.until)
    statement = select(level, func.count()).where(*where).group_by(level)
    narrowed = _narrowed(query)
    if narrowed:
        statement = statement.join(Alert, Alert.id == AlertEvent.alert_id).where(*narrowed)
    counts = {int(lvl): int(n) for lvl, n in await session.execute(statement)}
    return {str(lvl): counts.get(lvl, 0) for lvl in (2, 3, 4)}


async def _channels(
    session: AsyncSession, query: StatsQuery, settings: Settings
) -> dict[str, dict[str, Any]]:
    where: list[ColumnElement[bool]] = []
    if query.since is not None:
        where.append(Notification.created_at >= query.since)
    if query.until is not None:
        where.append(Notification.created_at < query.until)
    narrowed = _narrowed(query)
    source: FromClause | None = (
        join(Notification, Alert, Alert.id == Notification.alert_id) if narrowed else None
    )
    sent = Notification.status == "sent"
    statement = (
        select(
            Notification.channel,
            func.count().filter(sent),
            func.count().filter(Notification.status == "failed"),
            func.count().filter(Notification.status.in_(("pending", "sending"))),
            func.count().filter(Notification.status == "silenced"),
            func.avg(Notification.duration_ms).filter(sent),
        )
        .where(*where)
        .group_by(Notification.channel)
    )
    if narrowed:
        statement = statement.join(Alert, Alert.id == Notification.alert_id).where(*narrowed)
    rows = {row[0]: row[1:] for row in await session.execute(statement)}
    result: dict[str, dict[str, Any]] = {}
    for name in sorted(set(settings.channels) | set(rows)):
        n_sent, n_failed, n_pending, n_silenced, mean = rows.get(name, (0, 0, 0, 0, None))
        p95 = None
        if n_sent:
            (p95,) = await percentiles(
                session,
                Notification.duration_ms,
                [*where, *narrowed, Notification.channel == name, sent],
                (0.95,),
                source=source,
            )
        result[name] = {
            "sent": int(n_sent),
            "failed": int(n_failed),
            "pending": int(n_pending),
            "silenced": int(n_silenced),
            "success_rate": _rate(int(n_sent), int(n_sent) + int(n_failed)),
            "mean_latency_ms": _float(mean),
            "p95_latency_ms": p95,
        }
    return result
