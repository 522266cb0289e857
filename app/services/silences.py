"""Silences (maintenance windows): create, list, expire, and release.

An alert matched by an active silence is still recorded, deduplicated and
escalated; only its notifications are held (see outbox.queue). When the
silence ends, by its clock or by DELETE, it is released once: each held alert
that is still active gets one `unsilenced` notice per channel it was held
from; an alert that another silence now matches passes its held rows on to
that one instead; a resolved or closed alert sends nothing.

Replicas. The release job claims ended silences with FOR UPDATE SKIP LOCKED on
PostgreSQL and sets `released_at` in the same transaction, so each silence is
released by one process, once. See silence_match.py for how a notification
queued while a silence is being released is kept from being stranded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import history, outbox
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import Alert, OutboxRow, Silence
from app.schemas import SilenceCreate
from app.services import silence_limits, silence_match
from app.services.lifecycle import is_active
from app.settings import Settings

RELEASE_BATCH = 100
# Reasons that say nothing once the silence is over and the alert still fires.
_NOT_RELEASED = ("resolved", "test")


def state(silence: Silence, *, now: datetime) -> str:
    if silence.released_at is not None or silence.ends_at <= now:
        return "expired"
    return "pending" if silence.starts_at > now else "active"


async def create(
    session: AsyncSession, *, data: SilenceCreate, team: str | None, settings: Settings, now: datetime
) -> Silence:
    """`team`: the one team whose alerts it holds; None for every team's."""
    silence_limits.check_matchers(data.matchers, settings)
    if (data.ends_at is None) == (data.duration_minutes is None):
        raise InvalidInput("give exactly one of ends_at and duration_minutes", field="ends_at")
    starts_at = data.starts_at or now
    ends_at = data.ends_at or starts_at + timedelta(minutes=data.duration_minutes or 0)
    if ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    if ends_at <= now:
        raise InvalidInput("ends_at is in the past: the silence would never apply", field="ends_at")
    await silence_limits.check_room(session, settings, now=now)
    silence = Silence(
        id=uuid.uuid4(),
        matchers=[m.model_dump() for m in data.matchers],
        team=team,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=data.created_by,
        comment=data.comment,
        created_at=now,
    )
    session.add(silence)
    await silence_match.changed(session)
    await session.flush()
    return silence


def visible_to(team: str | None) -> Any:
    """The silences a caller confined to `team` sees: its team's and those of
    every team (which hold its alerts too); None sees all."""
    return true() if team is None else or_(Silence.team == team, Silence.team.is_(None))


async def get(
    session: AsyncSession, silence_id: uuid.UUID, *, team: str | None = None, lock: bool = False
) -> Silence:
    query = select(Silence).where(Silence.id == silence_id, visible_to(team))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    silence = await session.scalar(query)
    if silence is None:
        raise NotFound(f"silence {silence_id} not found", field="id")
    return silence


async def list_silences(
    session: AsyncSession, *, states: Sequence[str] | None, team: str | None, now: datetime, limit: int
) -> list[Silence]:
    """Newest first; `states` filters on pending, active, expired."""
    query = (
        select(Silence)
        .where(visible_to(team))
        .order_by(Silence.created_at.desc(), Silence.id.desc())
        .limit(limit)
    )
    if states:
        conditions = {
            "pending": (Silence.starts_at > now) & (Silence.ends_at > now),
            "active": (Silence.starts_at <= now) & (Silence.ends_at > now),
            "expired": Silence.ends_at <= now,
        }
        clause = conditions[states[0]]
        for name in states[1:]:
            clause = clause | conditions[name]
        query = query.where(clause)
    return list(await session.scalars(query))


async def expire(
    session: AsyncSession, *, silence_id: uuid.UUID, team: str | None, settings: Settings, now: datetime
) -> tuple[Silence, list[OutboxRow]]:
    """End a silence now and release what it held, in the caller's
    transaction. A caller confined to a team ends only its team's."""
    silence = await get(session, silence_id, team=team, lock=True)
    if team is not None and silence.team is None:
        raise Forbidden("a silence of every team is ended by an admin or all-teams key", field="id")
    if silence.released_at is not None:
        raise Conflict(f"silence {silence_id} has already expired", field="id")
    silence.starts_at = min(silence.starts_at, now)
    silence.ends_at = min(silence.ends_at, now)
    await silence_match.changed(session)
    rows = await _release(session, silence, settings=settings, now=now)
    return silence, rows


async def release_ended(session: AsyncSession, *, settings: Settings, now: datetime) -> list[OutboxRow]:
    """One run of the release job: every silence that has ended and is not yet released."""
    silences = list(
        await session.scalars(
            select(Silence)
            .where(Silence.released_at.is_(None), Silence.ends_at <= now)
            .order_by(Silence.ends_at)
            .limit(RELEASE_BATCH)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    rows: list[OutboxRow] = []
    for silence in silences:
        rows += await _release(session, silence, settings=settings, now=now)
    return rows


async def _release(
    session: AsyncSession, silence: Silence, *, settings: Settings, now: datetime
) -> list[OutboxRow]:
    silence.released_at = now
    await silence_match.changed(session)
    held = list(
        await session.scalars(
            select(OutboxRow)
            .where(OutboxRow.silence_id == silence.id, OutboxRow.status == "silenced")
            .order_by(OutboxRow.created_at, OutboxRow.id)
        )
    )
    by_alert: dict[uuid.UUID, list[OutboxRow]] = {}
    for row in held:
        if row.alert_id is not None:
            by_alert.setdefault(row.alert_id, []).append(row)
    if not by_alert:
        await session.flush()
        return []
    alerts = list(
        await session.scalars(
            select(Alert)
            .where(Alert.id.in_(by_alert))
            .order_by(Alert.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    queued: list[OutboxRow] = []
    for alert in alerts:
        rows = by_alert[alert.id]
        if not is_active(alert.status):
            continue  # resolved or closed meanwhile: nothing left to say
        matching = await silence_match.held_by(session, alert, now)
        successor = next((other for other in matching if other != silence.id), None)
        if successor is not None:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([r.id for r in rows]))
                .values(silence_id=successor)
                .execution_options(synchronize_session=False)
            )
            continue
        queued += _notices(session, alert, rows, silence=silence, settings=settings, now=now)
    await session.flush()
    return queued


def _notices(
    session: AsyncSession,
    alert: Alert,
    held: list[OutboxRow],
    *,
    silence: Silence,
    settings: Settings,
    now: datetime,
) -> list[OutboxRow]:
    released = [row for row in held if row.reason not in _NOT_RELEASED and row.channel in settings.channels]
    channels = list(dict.fromkeys(row.channel for row in released if row.recipient is None))
    # A person paged while the silence held it is paged once too, at the same address.
    people = list(
        dict.fromkeys(
            (row.channel, row.user_id, row.recipient) for row in released if row.recipient is not None
        )
    )
    session.add(
        history.event(
            alert.id,
            kind="unsilenced",
            at=now,
            actor="silence",
            note=f"silence ended: {len(held)} held notification(s)",
            silence_id=str(silence.id),
            held=len(held),
            channels=channels,
            people=len(people),
        )
    )
    if not settings.enabled:
        return []
    rows = outbox.rows(
        alert_id=alert.id, channels=channels, reason="unsilenced", level=alert.escalation_level, now=now
    )
    for channel, user_id, recipient in people:
        rows += outbox.rows(
            alert_id=alert.id,
            channels=[channel],
            reason="unsilenced",
            level=alert.escalation_level,
            now=now,
            user_id=user_id,
            recipient=recipient,
        )
    session.add_all(rows)
    return rows


@dataclass(frozen=True, slots=True)
class SilenceFigures:
    active: int
    pending: int
    held_notifications: int  # silenced rows whose silence is still in force
    silenced_notifications: int  # every row ever held


async def figures(session: AsyncSession, *, now: datetime) -> SilenceFigures:
    """For the statistics: silences in force and notifications they held."""
    active = await session.scalar(
        select(func.count()).where(
            Silence.starts_at <= now, Silence.ends_at > now, Silence.released_at.is_(None)
        )
    )
    pending = await session.scalar(select(func.count()).where(Silence.starts_at > now, Silence.ends_at > now))
    silenced = await session.scalar(select(func.count()).where(OutboxRow.status == "silenced"))
    held = await session.scalar(
        select(func.count())
        .select_from(OutboxRow)
        .join(Silence, OutboxRow.silence_id == Silence.id)
        .where(OutboxRow.status == "silenced", Silence.released_at.is_(None))
    )
    return SilenceFigures(int(active or 0), int(pending or 0), int(held or 0), int(silenced or 0))
