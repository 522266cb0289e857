"""Reading alerts: one alert, its history and notifications, and the
keyset-paged list."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.filters import labels_match, text_contains
from app.errors import InvalidInput, NotFound
from app.models import ACTIVE_STATUSES, Alert, AlertEvent, OutboxRow


async def get(session: AsyncSession, alert_id: uuid.UUID, *, team: str | None) -> Alert:
    """`team`: the one team the caller may read, None for any; another
    team's alert is not found, so its id says nothing."""
    alert = await session.get(Alert, alert_id)
    if alert is None or (team is not None and alert.team != team):
        raise NotFound(f"alert {alert_id} not found", field="id")
    return alert


async def history(session: AsyncSession, alert_id: uuid.UUID) -> list[AlertEvent]:
    rows = await session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    )
    return list(rows)


async def notifications(session: AsyncSession, alert_id: uuid.UUID) -> list[OutboxRow]:
    rows = await session.scalars(
        select(OutboxRow).where(OutboxRow.alert_id == alert_id).order_by(OutboxRow.created_at, OutboxRow.id)
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    team: str | None = None
    status: list[str] | None = None
    severity: list[str] | None = None
    alert_type: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    labels: dict[str, str] | None = None  # every one must match
    text: str | None = None  # in message, alert_type or source, ignoring case


def encode_cursor(alert: Alert) -> str:
    raw = f"{alert.first_seen_at.isoformat()}|{alert.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        seen, alert_id = raw.split("|")
        at = datetime.fromisoformat(seen)
        if at.tzinfo is None:
            raise ValueError("naive")
        # In UTC, as issued: a forged offset at the calendar's edge (year 1
        # at +14:00) is no instant either database can compare with.
        return at.astimezone(UTC), uuid.UUID(alert_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this service issued", field="cursor") from exc


async def list_alerts(
    session: AsyncSession, *, filters: AlertFilter, limit: int, cursor: str | None
) -> tuple[list[Alert], str | None]:
    """Newest first, keyset-paged on (first_seen_at, id): every page is an
    index range scan, however deep, unlike OFFSET."""
    query = select(Alert)
    if filters.team:
        query = query.where(Alert.team == filters.team)
    if filters.status:
        query = query.where(Alert.status.in_(filters.status))
    if filters.severity:
        query = query.where(Alert.severity.in_(filters.severity))
    if filters.alert_type:
        query = query.where(Alert.alert_type == filters.alert_type)
    if filters.source:
        query = query.where(Alert.source == filters.source)
    if filters.since:
        query = query.where(Alert.first_seen_at >= filters.since)
    if filters.until:
        query = query.where(Alert.first_seen_at < filters.until)
    if filters.labels:
        query = query.where(labels_match(Alert.labels, filters.labels))
    if filters.text:
        query = query.where(text_contains([Alert.message, Alert.alert_type, Alert.source], filters.text))
    if cursor:
        seen, alert_id = decode_cursor(cursor)
        query = query.where(tuple_(Alert.first_seen_at, Alert.id) < tuple_(seen, alert_id))
    query = query.order_by(Alert.first_seen_at.desc(), Alert.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1])
    return rows, None


@dataclass(frozen=True, slots=True)
class AlertCounts:
    """The console's summary: every alert by status, active ones by severity."""

    by_status: dict[str, int]
    active_by_severity: dict[str, int]


async def counts(session: AsyncSession, *, team: str | None) -> AlertCounts:
    query = select(Alert.status, Alert.severity, func.count()).group_by(Alert.status, Alert.severity)
    if team:
        query = query.where(Alert.team == team)
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for status, severity, n in await session.execute(query):
        by_status[status] = by_status.get(status, 0) + n
        if status in ACTIVE_STATUSES:
            by_severity[severity] = by_severity.get(severity, 0) + n
    return AlertCounts(by_status, by_severity)


async def latest_change(session: AsyncSession) -> int:
    """The newest history event's id: it moves whenever an alert is created,
    notifies again, changes status or severity. What the console's live
    list watches (one index lookup)."""
    return await session.scalar(select(func.max(AlertEvent.id))) or 0
