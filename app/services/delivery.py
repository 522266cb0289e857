"""Delivery of outbox rows: claim, attempt, record the result (the loop that
runs them, with its bounds and batches, is services/dispatcher.py).

Claiming marks rows `sending` with a lease and counts the attempt, in one
short transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, so replicas never
claim the same row; SQLite serializes writers instead). Sending happens
outside any transaction. Results are recorded in batches: whatever attempts
finished while the previous batch was being written go into the next
transaction, one set-wise UPDATE for the sent rows. A row is marked sent only
by that transaction, after its send succeeded; every update is guarded by
the lease the row was claimed with, so a worker whose lease expired and whose
row was claimed again cannot overwrite the newer attempt.

A row whose lease expires (the worker crashed or hung, or died between the
send and the write of its batch) is claimable again: delivery is at least
once, and webhooks carry the notification id as an idempotency key so that
receivers can drop the rare duplicate.

Backoff is computed here rather than with a retry library: the retries are
not a loop in this process but a `next_attempt_at` stored on the row, and the
formula is one line.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Update, bindparam, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import pg_delivery
from app.models import Alert
from app.models import Notification as OutboxRow
from app.notifiers.base import DeliveryError, Notification, Notifier
from app.schemas import AlertRead
from app.settings import Settings

MAX_ERROR_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed row, detached from any session: what one attempt needs."""

    id: uuid.UUID
    alert_id: uuid.UUID | None
    channel: str
    reason: str
    level: int
    attempts: int
    created_at: datetime
    lease_until: datetime
    alert: dict[str, object] | None


def backoff_seconds(attempts: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff after `attempts` failed tries; a peer's
    Retry-After is honoured as a floor, within the cap."""
    delay = random.uniform(0, min(cap, base * 2 ** (attempts - 1)))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Claim up to `limit` due rows: one UPDATE ... RETURNING whose subquery
    picks them (FOR UPDATE SKIP LOCKED on PostgreSQL), then one read of
    their alerts. Claiming runs for every few notifications under a burst,
    so it is two statements, not a read, a write and a read again."""
    due = or_(
        (OutboxRow.status == "pending") & (OutboxRow.next_attempt_at <= now),
        (OutboxRow.status == "sending") & (OutboxRow.lease_until <= now),
    )
    picked = (
        select(OutboxRow.id)
        .where(due)
        .order_by(OutboxRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    lease_until = now + timedelta(seconds=lease_seconds)
    result = await session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(picked.scalar_subquery()))
        .values(status="sending", lease_until=lease_until, attempts=OutboxRow.attempts + 1)
        .returning(
            OutboxRow.id,
            OutboxRow.alert_id,
            OutboxRow.channel,
            OutboxRow.reason,
            OutboxRow.level,
            OutboxRow.attempts,
            OutboxRow.created_at,
            OutboxRow.next_attempt_at,
        )
        .execution_options(synchronize_session=False)
    )
    rows = sorted(result.mappings(), key=lambda row: row["next_attempt_at"])  # RETURNING keeps no order
    if not rows:
        return []
    alert_ids = {row["alert_id"] for row in rows if row["alert_id"] is not None}
    alerts = (
        {alert.id: alert for alert in await session.scalars(select(Alert).where(Alert.id.in_(alert_ids)))}
        if alert_ids
        else {}
    )
    return [_claimed(row, lease_until, alerts.get(row["alert_id"])) for row in rows]


async def claim_due_in_one_statement(
    pool: asyncpg.Pool, *, now: datetime, limit: int, lease_seconds: float
) -> list[Claimed]:
    """claim_due on PostgreSQL, in one statement on the asyncpg pool
    (db/pg_delivery.py)."""
    lease_until, rows = await pg_delivery.claim(pool, now=now, limit=limit, lease_seconds=lease_seconds)
    return [_claimed(row, lease_until, alert) for row, alert in rows]


def _claimed(row: Mapping[Any, Any], lease_until: datetime, alert: object | None) -> Claimed:
    """A claimed row and its alert (an ORM row or a mapping of its columns)."""
    return Claimed(
        id=row["id"],
        alert_id=row["alert_id"],
        channel=row["channel"],
        reason=row["reason"],
        level=row["level"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        lease_until=lease_until,
        alert=None if alert is None else AlertRead.model_validate(alert).model_dump(mode="json"),
    )


def _ours(claimed: Claimed) -> ColumnElement[bool]:
    return (
        (OutboxRow.id == claimed.id)
        & (OutboxRow.status == "sending")
        & (OutboxRow.lease_until == claimed.lease_until)
    )


# Rows per statement: within SQLite's 500 terms of a compound SELECT and
# both databases' bound-parameter limits.
RECORD_CHUNK = 200


@functools.cache
def _mark_sent(size: int) -> Update:
    """UPDATE ... FROM (one SELECT of bound values per row, UNION ALL): the
    same SQL for every batch of a size, so its compilation is cached, unlike
    a VALUES list, and both databases accept it."""
    rows = [
        select(
            bindparam(f"id_{i}", type_=OutboxRow.id.type).label("id"),
            bindparam(f"lease_{i}", type_=OutboxRow.lease_until.type).label("lease_until"),
            bindparam(f"ms_{i}", type_=OutboxRow.duration_ms.type).label("duration_ms"),
        )
        for i in range(size)
    ]
    batch = (union_all(*rows) if size > 1 else rows[0]).cte("batch")
    return (
        update(OutboxRow)
        .where(
            OutboxRow.id == batch.c.id,
            OutboxRow.status == "sending",
            OutboxRow.lease_until == batch.c.lease_until,
        )
        .values(
            status="sent",
            sent_at=bindparam("now", type_=OutboxRow.sent_at.type),
            duration_ms=batch.c.duration_ms,
            lease_until=None,
            last_error=None,
        )
        .returning(OutboxRow.id, OutboxRow.alert_id)
        .execution_options(synchronize_session=False)
    )


async def record_sent(
    session: AsyncSession, *, sent: Sequence[tuple[Claimed, float]], now: datetime
) -> set[uuid.UUID]:
    """Mark sent the rows whose (claimed row, duration in ms) pairs are given,
    in one statement per RECORD_CHUNK; returns the ids that were still ours,
    which are the ones marked."""
    marked: list[tuple[uuid.UUID, uuid.UUID | None]] = []
    for first in range(0, len(sent), RECORD_CHUNK):
        chunk = sent[first : first + RECORD_CHUNK]
        params: dict[str, object] = {"now": now}
        for i, (claimed, duration_ms) in enumerate(chunk):
            params |= {f"id_{i}": claimed.id, f"lease_{i}": claimed.lease_until, f"ms_{i}": duration_ms}
        result = await session.execute(_mark_sent(len(chunk)), params)
        marked += [(row_id, alert_id) for row_id, alert_id in result]
    await _count_sent(session, Counter(alert_id for _, alert_id in marked if alert_id is not None))
    return {row_id for row_id, _ in marked}


async def _count_sent(session: AsyncSession, per_alert: Counter[uuid.UUID]) -> None:
    if not per_alert:
        return
    # Lock the alerts in one order first: two workers recording batches that
    # share alerts would otherwise lock them in scan order and could deadlock.
    # It is the ingest statement's order (by fingerprint, db/pg_ingest.py), so
    # a batch of duplicates and a batch of results cannot deadlock either.
    await session.execute(
        select(Alert.id)
        .where(Alert.id.in_(per_alert))
        .order_by(Alert.fingerprint, Alert.id)
        .with_for_update()
    )
    by_count: dict[int, list[uuid.UUID]] = {}
    for alert_id, count in per_alert.items():
        by_count.setdefault(count, []).append(alert_id)
    for count, alert_ids in by_count.items():
        await session.execute(
            update(Alert)
            .where(Alert.id.in_(alert_ids))
            .values(notifications_sent=Alert.notifications_sent + count)
            .execution_options(synchronize_session=False)
        )


async def record_failure(
    session: AsyncSession,
    *,
    claimed: Claimed,
    error: str,
    now: datetime,
    settings: Settings,
    duration_ms: float,
    retry_after: float | None = None,
    permanent: bool = False,
) -> str | None:
    """Schedule a retry, or give up after max_attempts; returns the new
    status, or None when the lease was lost and a newer attempt owns the row."""
    give_up = permanent or claimed.attempts >= settings.max_attempts
    delay = backoff_seconds(
        claimed.attempts,
        base=settings.retry_base_seconds,
        cap=settings.retry_max_seconds,
        retry_after=retry_after,
    )
    status = "failed" if give_up else "pending"
    result = await session.execute(
        update(OutboxRow)
        .where(_ours(claimed))
        .values(
            status=status,
            last_error=error[:MAX_ERROR_CHARS],
            lease_until=None,
            duration_ms=duration_ms,
            next_attempt_at=now if give_up else now + timedelta(seconds=delay),
        )
        .execution_options(synchronize_session=False)
    )
    return status if result.rowcount == 1 else None  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    duration_ms: float = 0.0


def channel_timeout(settings: Settings, channel: str) -> float:
    config = settings.channels.get(channel)
    own = getattr(config, "timeout_seconds", None)
    return float(own or settings.delivery_timeout_seconds)


async def attempt(claimed: Claimed, notifier: Notifier | None, *, timeout: float, public_url: str) -> Attempt:
    """One delivery attempt. Failures are results, never exceptions."""
    if notifier is None:
        return Attempt(False, f"channel {claimed.channel!r} is not configured", permanent=True)
    notification = Notification(
        id=claimed.id,
        channel=claimed.channel,
        reason=claimed.reason,
        level=claimed.level,
        created_at=claimed.created_at,
        alert=claimed.alert,
        alert_url=f"{public_url.rstrip('/')}/alerts/{claimed.alert_id}" if claimed.alert_id else None,
    )
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await notifier.send(notification)
    except DeliveryError as exc:
        return Attempt(False, str(exc), exc.retry_after, exc.permanent, _ms_since(started))
    except TimeoutError:
        return Attempt(False, f"timed out after {timeout:g}s", duration_ms=_ms_since(started))
    return Attempt(True, duration_ms=_ms_since(started))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
