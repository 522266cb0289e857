"""Heartbeats (dead man's switches): a beat, the check for missed ones,
listing and retiring.

A job beats (POST /heartbeats/{name}) at least every `timeout_seconds`. The
check finds each heartbeat that is `up` and past its `due_at` (last beat +
timeout), marks it `late` and opens a `heartbeat_missed` alert through the
same submission path as any alert, in one transaction, so the alert
deduplicates, notifies and escalates like any other. The next beat resolves
that alert and the heartbeat is `up` again.

Restarts. All of it is in the database: `due_at` is written with every
beat, and a heartbeat is late when `due_at < now`, whoever asks and however
long the process was down. An on-time beat is never late after a restart;
an overdue one is found by the first check of the new process.

Replicas. The check claims due heartbeats with FOR UPDATE SKIP LOCKED on
PostgreSQL and moves them to `late` in the claiming transaction, so each
miss is claimed by one process, once: a replica checking at the same moment
skips the locked rows, or (if it reads after our commit) no longer finds
them `up`. SQLite begins every writing transaction IMMEDIATE (db/engine.py),
so two checks there run one after the other and the second finds nothing.
A beat and the check meet on the heartbeat's row lock: whichever comes
second sees what the first committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.heartbeat_schemas import (
    DEFAULT_SEVERITY,
    DEFAULT_TIMEOUT_SECONDS,
    HeartbeatBeat,
    HeartbeatRead,
)
from app.models import Alert, Heartbeat
from app.schemas import AlertCreate
from app.services import lifecycle
from app.services.submit import submit_in
from app.settings import Settings

log = logging.getLogger(__name__)

ALERT_TYPE = "heartbeat_missed"
RESOLVED_BY = "heartbeat"
CHECK_BATCH = 100


def duration_text(seconds: float) -> str:
    """300 -> "5m", 3900 -> "1h 5m", 45 -> "45s"."""
    left = round(seconds)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


def state(heartbeat: Heartbeat, *, now: datetime) -> str:
    """Late once its due time has passed, even before the check has run."""
    return "late" if heartbeat.state == "late" or heartbeat.due_at < now else "up"


def snapshot(heartbeat: Heartbeat, *, now: datetime) -> HeartbeatRead:
    read = HeartbeatRead.model_validate(heartbeat)
    return read.model_copy(update={"state": state(heartbeat, now=now)})


def _missed_message(heartbeat: Heartbeat) -> str:
    return heartbeat.message or (
        f"no heartbeat from {heartbeat.name} for {duration_text(heartbeat.timeout_seconds)}"
    )


async def get(session: AsyncSession, *, team: str, name: str, lock: bool = False) -> Heartbeat:
    """One team's heartbeat; another team's is not found (its name says nothing)."""
    found = await _find(session, team=team, name=name, lock=lock)
    if found is None:
        raise NotFound(f"heartbeat {name!r} not found", field="name")
    return found


async def _find(session: AsyncSession, *, team: str, name: str, lock: bool) -> Heartbeat | None:
    query = select(Heartbeat).where(Heartbeat.team == team, Heartbeat.name == name)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found: Heartbeat | None = await session.scalar(query)
    return found


async def list_heartbeats(
    session: AsyncSession, *, team: str | None, states: Sequence[str] | None, now: datetime, limit: int
) -> list[Heartbeat]:
    """By team and name; `team` None lists every team's."""
    query = select(Heartbeat).order_by(Heartbeat.team, Heartbeat.name).limit(limit)
    if team is not None:
        query = query.where(Heartbeat.team == team)
    if states and set(states) != {"up", "late"}:
        late = or_(Heartbeat.state == "late", Heartbeat.due_at < now)
        query = query.where(late if "late" in states else ~late)
    return list(await session.scalars(query))


@dataclass(frozen=True, slots=True)
class Beat:
    heartbeat: Heartbeat
    created: bool
    resolved: Alert | None  # the missed alert this beat resolved


async def beat(
    session: AsyncSession, *, team: str, name: str, data: HeartbeatBeat, settings: Settings, now: datetime
) -> Beat:
    """Record a beat, creating the heartbeat on its first; a late one is up
    again and its missed alert resolved. Flushes, never commits."""
    heartbeat = await _find(session, team=team, name=name, lock=True)
    if heartbeat is None:
        made = await _create(session, team=team, name=name, data=data, now=now)
        if made is not None:
            return Beat(made, created=True, resolved=None)
        # A first beat of the same name committed between our read and our
        # insert: this one is its second.
        heartbeat = await get(session, team=team, name=name, lock=True)
    late_by = now - heartbeat.due_at
    if data.timeout_seconds is not None:
        heartbeat.timeout_seconds = data.timeout_seconds
    if data.severity is not None:
        heartbeat.severity = data.severity
    if data.labels is not None:
        heartbeat.labels = dict(data.labels)
    if data.message is not None:
        heartbeat.message = data.message
    heartbeat.last_beat_at = now
    heartbeat.due_at = now + timedelta(seconds=heartbeat.timeout_seconds)
    note = f"heartbeat {name} beat again, {duration_text(late_by.total_seconds())} after it was due"
    resolved = await _back_up(session, heartbeat, by=RESOLVED_BY, note=note, settings=settings, now=now)
    await session.flush()
    return Beat(heartbeat, created=False, resolved=resolved)


async def _create(
    session: AsyncSession, *, team: str, name: str, data: HeartbeatBeat, now: datetime
) -> Heartbeat | None:
    timeout = data.timeout_seconds or DEFAULT_TIMEOUT_SECONDS
    heartbeat = Heartbeat(
        id=uuid.uuid4(),
        team=team,
        name=name,
        timeout_seconds=timeout,
        severity=data.severity or DEFAULT_SEVERITY,
        labels=dict(data.labels or {}),
        message=data.message,
        created_at=now,
        last_beat_at=now,
        due_at=now + timedelta(seconds=timeout),
        state="up",
        alert_id=None,
    )
    try:
        async with session.begin_nested():
            session.add(heartbeat)
    except IntegrityError:  # (team, name) is unique: another first beat won
        return None
    return heartbeat


async def _back_up(
    session: AsyncSession, heartbeat: Heartbeat, *, by: str, note: str, settings: Settings, now: datetime
) -> Alert | None:
    """Up again; its missed alert, when still active, resolved."""
    alert_id = heartbeat.alert_id
    heartbeat.state, heartbeat.alert_id = "up", None
    if alert_id is None:
        return None
    alert = await session.get(Alert, alert_id)
    if alert is None or not lifecycle.is_active(alert.status):
        return None  # resolved or closed by hand meanwhile, or deleted by retention
    return await lifecycle.change_status(
        session, alert_id=alert_id, status="resolved", by=by, note=note, settings=settings, now=now
    )


@dataclass(frozen=True, slots=True)
class Retired:
    heartbeat: HeartbeatRead  # as it was
    resolved: Alert | None


async def retire(
    session: AsyncSession, *, team: str, name: str, by: str, settings: Settings, now: datetime
) -> Retired:
    """Delete a heartbeat, resolving its open missed alert. A later beat of
    the same name starts it afresh."""
    heartbeat = await get(session, team=team, name=name, lock=True)
    last = snapshot(heartbeat, now=now)
    resolved = await _back_up(
        session, heartbeat, by=by, note=f"heartbeat {name} retired", settings=settings, now=now
    )
    await session.delete(heartbeat)
    await session.flush()
    return Retired(last, resolved)


@dataclass(frozen=True, slots=True)
class Missed:
    team: str
    name: str
    alert_id: uuid.UUID
    outcome: str  # of the submission: created, duplicate or reopened
    queued: int  # notifications queued


async def check_due(
    session: AsyncSession, *, settings: Settings, now: datetime, batch_size: int = CHECK_BATCH
) -> list[Missed]:
    """One run of the check: every heartbeat past its due time opens its
    missed alert, in batches, in the caller's transaction."""
    missed: list[Missed] = []
    while True:
        due = list(
            await session.scalars(
                select(Heartbeat)
                .where(Heartbeat.state == "up", Heartbeat.due_at < now)
                .order_by(Heartbeat.due_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        )
        for heartbeat in due:
            missed.append(await _open_missed(session, heartbeat, settings=settings, now=now))
        await session.flush()
        if len(due) < batch_size:
            return missed


async def _open_missed(
    session: AsyncSession, heartbeat: Heartbeat, *, settings: Settings, now: datetime
) -> Missed:
    data = AlertCreate(
        alert_type=ALERT_TYPE,
        severity=heartbeat.severity,
        message=_missed_message(heartbeat),
        source=heartbeat.name,
        labels=heartbeat.labels,
        details={
            "heartbeat": heartbeat.name,
            "last_beat_at": heartbeat.last_beat_at.isoformat(),
            "timeout_seconds": heartbeat.timeout_seconds,
        },
    )
    done = await submit_in(session, data=data, team=heartbeat.team, settings=settings, now=now)
    alert_id = uuid.UUID(str(done.alert["id"]))
    heartbeat.state, heartbeat.alert_id = "late", alert_id
    log.warning(
        "heartbeat missed",
        extra={"heartbeat": heartbeat.name, "team": heartbeat.team, "alert_id": str(alert_id)},
    )
    return Missed(heartbeat.team, heartbeat.name, alert_id, done.outcome, done.queued)
