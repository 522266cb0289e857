"""Alert rules: submit with deduplication, lifecycle moves, reads.

Service functions flush, never commit: the route owns the transaction, so an
alert change and the notifications it causes commit together or not at all.

Concurrency. Identical submissions racing each other are settled by the
database: a partial unique index allows one active alert per fingerprint. On
PostgreSQL the existing alert is locked with SELECT ... FOR UPDATE; a racing
insert that loses gets a unique violation, rolls back to its savepoint and
retries, then finds the winner's row and merges into it. On SQLite every
transaction begins IMMEDIATE (see db/engine.py), so writers are serialized
and the race cannot happen.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import pg_ingest
from app.db.group_commit import IngestWriter
from app.errors import InvalidInput, NotFound
from app.models import ACTIVE_STATUSES, Alert, AlertEvent, Notification
from app.schemas import AlertCreate
from app.services import escalation, outbox
from app.services.dedup import decide_duplicate, fingerprint
from app.services.lifecycle import apply_move, check_move, is_active, reopen
from app.settings import Settings

SUBMIT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Submission:
    alert: Alert
    outcome: str  # created | duplicate | reopened
    notify_reason: str | None
    notifications: list[Notification]


def _event(
    alert: Alert,
    *,
    kind: str,
    now: datetime,
    actor: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    **data: object,
) -> AlertEvent:
    return AlertEvent(
        alert_id=alert.id,
        at=now,
        kind=kind,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=data,
    )


def _check_channels(requested: list[str] | None, settings: Settings) -> list[str]:
    if requested is None:
        return list(settings.default_channels)
    for i, name in enumerate(requested):
        if name not in settings.channels:
            known = ", ".join(sorted(settings.channels))
            raise InvalidInput(f"unknown channel {name!r}; configured: {known}", field=f"channels.{i}")
    return list(dict.fromkeys(requested))


async def submit(
    session: AsyncSession, *, data: AlertCreate, settings: Settings, now: datetime
) -> Submission:
    channels = _check_channels(data.channels, settings)
    fp = fingerprint(
        alert_type=data.alert_type, source=data.source, labels=data.labels, dedup_key=data.dedup_key
    )
    if not settings.enable_deduplication:
        return await _create(
            session, data=data, fp=fp, channels=channels, settings=settings, now=now, dedup=False
        )
    for attempt in range(SUBMIT_ATTEMPTS):
        try:
            async with session.begin_nested():
                return await _submit_once(
                    session, data=data, fp=fp, channels=channels, settings=settings, now=now
                )
        except IntegrityError:
            # Another submission created or reopened this fingerprint's alert
            # between our read and our write; the retry finds it and merges.
            if attempt == SUBMIT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class FastSubmission:
    """A submission done by the one-statement path: the alert as a row."""

    alert: dict[str, Any]
    outcome: str
    notify_reason: str | None
    queued: int


async def submit_in_one_statement(
    writer: IngestWriter, *, data: AlertCreate, settings: Settings, now: datetime
) -> FastSubmission | None:
    """PostgreSQL only: the whole submission in one autocommitted statement,
    shared with the submissions made at the same moment (db/group_commit.py,
    db/pg_ingest.py). None when the general path must handle it (a recently
    ended alert to reopen, or a silence in force)."""
    row = await writer.write(
        pg_ingest.Pending(
            fingerprint=fingerprint(
                alert_type=data.alert_type, source=data.source, labels=data.labels, dedup_key=data.dedup_key
            ),
            now=now,
            alert_type=data.alert_type,
            severity=data.severity,
            message=data.message,
            source=data.source,
            labels=data.labels,
            details=data.details,
            channels=_check_channels(data.channels, settings),
            next_escalation_at=escalation.next_due(
                settings.escalation,
                status="open",
                severity=data.severity,
                level=1,
                triggered_at=now,
                escalated_at=None,
            ),
        )
    )
    if row is None:
        return None
    outcome = "created" if row.pop("inserted") else "duplicate"
    queued = int(row.pop("queued"))
    row.update(silenced=False, silenced_by=[])  # no silence was in force, or we would have deferred
    return FastSubmission(row, outcome, row["last_notify_reason"], queued)


def _latest_by_fingerprint(fp: str) -> Select[Alert]:
    active_first = case((Alert.status.in_(ACTIVE_STATUSES), 0), else_=1)
    return (
        select(Alert)
        .where(Alert.fingerprint == fp, Alert.deduplicated.is_(True))
        .order_by(active_first, Alert.first_seen_at.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _submit_once(
    session: AsyncSession,
    *,
    data: AlertCreate,
    fp: str,
    channels: list[str],
    settings: Settings,
    now: datetime,
) -> Submission:
    window = timedelta(minutes=settings.dedup_window_minutes)
    alert = await session.scalar(_latest_by_fingerprint(fp))
    if alert is not None and is_active(alert.status):
        return await _merge_duplicate(
            session, alert=alert, data=data, settings=settings, now=now, window=window
        )
    if alert is not None:
        ended_at = alert.resolved_at or alert.closed_at
        if ended_at is not None and now - ended_at < window:
            return await _reopen(session, alert=alert, data=data, settings=settings, now=now)
    return await _create(session, data=data, fp=fp, channels=channels, settings=settings, now=now, dedup=True)


async def _create(
    session: AsyncSession,
    *,
    data: AlertCreate,
    fp: str,
    channels: list[str],
    settings: Settings,
    now: datetime,
    dedup: bool,
) -> Submission:
    alert = Alert(
        id=uuid.uuid4(),
        fingerprint=fp,
        alert_type=data.alert_type,
        severity=data.severity,
        message=data.message,
        source=data.source,
        labels=data.labels,
        details=data.details,
        channels=channels,
        status="open",
        escalation_level=1,
        max_escalation_level=1,
        occurrences=1,
        suppressed_count=0,
        suppressed_streak=0,
        notifications_sent=0,
        first_seen_at=now,
        last_seen_at=now,
        triggered_at=now,
        policy=settings.escalation.name,
        deduplicated=dedup,
        last_notify_reason="new",
    )
    escalation.schedule(alert, settings.escalation, now=now)
    session.add(alert)
    await session.flush()  # the alert row must exist before rows that point at it
    session.add(_event(alert, kind="created", now=now, actor=data.source, to_status="open"))
    rows = await outbox.queue(session, alert=alert, reason="new", settings=settings, now=now)
    await session.flush()
    return Submission(alert, "created", "new", rows)


def _take_newest(alert: Alert, data: AlertCreate, now: datetime) -> None:
    alert.occurrences += 1
    alert.last_seen_at = now
    alert.message = data.message
    alert.details = data.details


async def _merge_duplicate(
    session: AsyncSession,
    *,
    alert: Alert,
    data: AlertCreate,
    settings: Settings,
    now: datetime,
    window: timedelta,
) -> Submission:
    decision = decide_duplicate(
        current_severity=alert.severity,
        incoming_severity=data.severity,
        last_seen_at=alert.last_seen_at,
        streak=alert.suppressed_streak,
        now=now,
        window=window,
        threshold=settings.suppression_threshold,
    )
    _take_newest(alert, data, now)
    alert.suppressed_streak = decision.streak
    alert.last_notify_reason = decision.reason
    rows: list[Notification] = []
    if decision.suppressed:
        alert.suppressed_count += 1
    else:
        if decision.raise_severity:
            alert.severity = data.severity
            escalation.schedule(alert, settings.escalation, now=now)
            session.add(
                _event(alert, kind="severity_raised", now=now, actor=data.source, severity=data.severity)
            )
        assert decision.reason is not None
        session.add(
            _event(alert, kind="notified", now=now, reason=decision.reason, occurrences=alert.occurrences)
        )
        rows = await outbox.queue(session, alert=alert, reason=decision.reason, settings=settings, now=now)
    await session.flush()
    return Submission(alert, "duplicate", decision.reason, rows)


async def _reopen(
    session: AsyncSession, *, alert: Alert, data: AlertCreate, settings: Settings, now: datetime
) -> Submission:
    previous = alert.status
    reopen(alert, now=now)
    _take_newest(alert, data, now)
    alert.last_notify_reason = "reopened"
    alert.severity = data.severity
    escalation.schedule(alert, settings.escalation, now=now)
    await session.flush()  # may hit the unique index: the caller retries
    session.add(
        _event(
            alert,
            kind="status",
            now=now,
            actor=data.source,
            from_status=previous,
            to_status="reopened",
            note="recurred within the dedup window",
        )
    )
    rows = await outbox.queue(session, alert=alert, reason="reopened", settings=settings, now=now)
    await session.flush()
    return Submission(alert, "reopened", "reopened", rows)


async def _get_for_update(session: AsyncSession, alert_id: uuid.UUID) -> Alert:
    alert = await session.scalar(
        select(Alert).where(Alert.id == alert_id).with_for_update().execution_options(populate_existing=True)
    )
    if alert is None:
        raise NotFound(f"alert {alert_id} not found", field="id")
    return alert


async def change_status(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID,
    status: str,
    by: str,
    note: str | None,
    settings: Settings,
    now: datetime,
) -> Alert:
    alert = await _get_for_update(session, alert_id)
    previous = alert.status
    check_move(previous, status)
    apply_move(alert, target=status, by=by, note=note, now=now)
    escalation.schedule(alert, settings.escalation, now=now)
    session.add(
        _event(alert, kind="status", now=now, actor=by, from_status=previous, to_status=status, note=note)
    )
    if status == "resolved":
        told = await outbox.channels_told(session, alert_id=alert.id)
        await outbox.queue(
            session, alert=alert, reason=status, settings=settings, now=now, extra_channels=told
        )
    elif status == "reopened":
        await outbox.queue(session, alert=alert, reason=status, settings=settings, now=now)
    await session.flush()
    return alert


async def acknowledge(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID,
    by: str,
    note: str | None,
    settings: Settings,
    now: datetime,
) -> Alert:
    return await change_status(
        session, alert_id=alert_id, status="acknowledged", by=by, note=note, settings=settings, now=now
    )


async def resolve(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID,
    resolved_by: str,
    notes: str | None,
    settings: Settings,
    now: datetime,
) -> Alert:
    return await change_status(
        session, alert_id=alert_id, status="resolved", by=resolved_by, note=notes, settings=settings, now=now
    )


async def get(session: AsyncSession, alert_id: uuid.UUID) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found", field="id")
    return alert


async def history(session: AsyncSession, alert_id: uuid.UUID) -> list[AlertEvent]:
    rows = await session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    )
    return list(rows)


async def notifications(session: AsyncSession, alert_id: uuid.UUID) -> list[Notification]:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.alert_id == alert_id)
        .order_by(Notification.created_at, Notification.id)
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: list[str] | None = None
    severity: list[str] | None = None
    alert_type: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None


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
        return at, uuid.UUID(alert_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this service issued", field="cursor") from exc


async def list_alerts(
    session: AsyncSession, *, filters: AlertFilter, limit: int, cursor: str | None
) -> tuple[list[Alert], str | None]:
    """Newest first, keyset-paged on (first_seen_at, id): every page is an
    index range scan, however deep, unlike OFFSET."""
    query = select(Alert)
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
    if cursor:
        seen, alert_id = decode_cursor(cursor)
        query = query.where(tuple_(Alert.first_seen_at, Alert.id) < tuple_(seen, alert_id))
    query = query.order_by(Alert.first_seen_at.desc(), Alert.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1])
    return rows, None
