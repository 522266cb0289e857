"""Housekeeping: close old resolved alerts, delete old closed ones, and fold
the changes to ended alerts and to notifications into the sums GET /stats and
GET /channels read (db/ended_sums.py, db/notification_sums.py), and the
changes to resolution and acknowledge times into their bucket counts
(db/duration_buckets.py). A deleted notification's counts leave the sums
with it (its delta is written by the delete): the channel figures are those
of the notifications kept.

Both work in batches so that one run never holds locks for long, and both are
safe with replicas: closing claims rows with FOR UPDATE SKIP LOCKED, and a
delete of rows already deleted by another replica deletes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import day_sums, duration_buckets, ended_sums, history, notification_sums
from app.models import Alert, OutboxRow
from app.settings import Settings

log = logging.getLogger(__name__)

BATCH = 500


async def auto_close(session: AsyncSession, *, now: datetime, after: timedelta, batch: int = BATCH) -> int:
    """Close up to `batch` alerts resolved longer than `after` ago."""
    alerts = list(
        await session.scalars(
            select(Alert)
            .where(Alert.status == "resolved", Alert.resolved_at < now - after)
            .order_by(Alert.resolved_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    hours = after.total_seconds() / 3600
    for alert in alerts:
        alert.status = "closed"
        alert.closed_at = now
        session.add(
            history.event(
                alert.id,
                kind="status",
                at=now,
                actor="housekeeping",
                from_status="resolved",
                to_status="closed",
                note=f"closed automatically {hours:g} h after resolution",
            )
        )
    await session.flush()
    return len(alerts)


async def purge(session: AsyncSession, *, now: datetime, after: timedelta, batch: int = BATCH) -> int:
    """Delete up to `batch` alerts closed longer than `after` ago; their events
    and notifications go with them (ON DELETE CASCADE). Channel tests, which
    belong to no alert, are deleted by the same age."""
    cutoff = now - after
    # The status written into the statement, not bound: a plan made for any
    # status could not use the partial index of closed alerts by age.
    closed = Alert.status == literal_column("'closed'")
    doomed = select(Alert.id).where(closed, Alert.closed_at < cutoff).limit(batch)
    ids = list(await session.scalars(doomed))
    if ids:
        await session.execute(
            delete(Alert).where(Alert.id.in_(ids)).execution_options(synchronize_session=False)
        )
    await session.execute(
        delete(OutboxRow)
        .where(
            OutboxRow.alert_id.is_(None),
            OutboxRow.status.in_(("sent", "failed")),
            OutboxRow.created_at < cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    return len(ids)


async def _in_batches(
    sessionmaker: async_sessionmaker[AsyncSession], batch: Callable[[AsyncSession], Awaitable[int]]
) -> int:
    """Run `batch` in a transaction of its own until it does less than a full batch."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            done = await batch(session)
        total += done
        if done < BATCH:
            return total


async def run(
    sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime
) -> tuple[int, int]:
    """One housekeeping pass, a transaction per batch; returns (closed, deleted)."""
    closed = deleted = 0
    if settings.auto_close_hours:
        close_after = timedelta(hours=settings.auto_close_hours)
        closed = await _in_batches(
            sessionmaker, lambda session: auto_close(session, now=now, after=close_after)
        )
    if settings.retention_days:
        keep_for = timedelta(days=settings.retention_days)
        deleted = await _in_batches(sessionmaker, lambda session: purge(session, now=now, after=keep_for))
    for fold in (ended_sums.fold, notification_sums.fold, duration_buckets.fold):
        while True:  # last: the deltas of the closes and deletes above go in too
            async with sessionmaker() as session, session.begin():
                folded = await fold(session)
            if folded < day_sums.CHUNK:
                break
    if closed or deleted:
        log.info("housekeeping", extra={"closed": closed, "deleted": deleted})
    return closed, deleted
