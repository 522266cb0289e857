"""Delivery of outbox rows: claim, send under bounds, record the result.

Claiming marks rows `sending` with a lease and counts the attempt, in one
short transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, so replicas never
claim the same row; SQLite serializes writers instead). Sending happens
outside any transaction. Each result is recorded in its own transaction,
guarded by the lease it was claimed with, so a worker whose lease expired
and whose row was claimed again cannot overwrite the newer attempt.

A row whose lease expires (the worker crashed or hung) is claimable again:
delivery is at least once, and webhooks carry the notification id as an
idempotency key so that receivers can drop the rare duplicate.

Backoff is computed here rather than with a retry library: the retries are
not a loop in this process but a `next_attempt_at` stored on the row, and the
formula is one line.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import is_database_outage
from app.metrics import DELIVERY_SECONDS, NOTIFICATIONS
from app.models import Alert
from app.models import Notification as OutboxRow
from app.notifiers.base import DeliveryError, Notification, Notifier
from app.schemas import AlertRead
from app.settings import Settings

log = logging.getLogger(__name__)

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
    due = or_(
        (OutboxRow.status == "pending") & (OutboxRow.next_attempt_at <= now),
        (OutboxRow.status == "sending") & (OutboxRow.lease_until <= now),
    )
    ids = list(
        await session.scalars(
            select(OutboxRow.id)
            .where(due)
            .order_by(OutboxRow.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    await session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(ids))
        .values(status="sending", lease_until=lease_until, attempts=OutboxRow.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    rows = list(await session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids))))
    alert_ids = {row.alert_id for row in rows if row.alert_id is not None}
    alerts = {
        alert.id: AlertRead.model_validate(alert).model_dump(mode="json")
        for alert in await session.scalars(select(Alert).where(Alert.id.in_(alert_ids)))
    }
    return [
        Claimed(
            id=row.id,
            alert_id=row.alert_id,
            channel=row.channel,
            reason=row.reason,
            level=row.level,
            attempts=row.attempts,
            created_at=row.created_at,
            lease_until=lease_until,
            alert=alerts.get(row.alert_id) if row.alert_id else None,
        )
        for row in rows
    ]


def _ours(claimed: Claimed) -> ColumnElement[bool]:
    return (
        (OutboxRow.id == claimed.id)
        & (OutboxRow.status == "sending")
        & (OutboxRow.lease_until == claimed.lease_until)
    )


async def record_sent(session: AsyncSession, *, claimed: Claimed, now: datetime, duration_ms: float) -> bool:
    result = await session.execute(
        update(OutboxRow)
        .where(_ours(claimed))
        .values(status="sent", sent_at=now, duration_ms=duration_ms, lease_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if claimed.alert_id is not None:
        await session.execute(
            update(Alert)
            .where(Alert.id == claimed.alert_id)
            .values(notifications_sent=Alert.notifications_sent + 1)
            .execution_options(synchronize_session=False)
        )
    return True


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


class Dispatcher:
    """Keeps up to `delivery_concurrency` attempts in flight.

    Each task records its own result the moment it finishes, so a slow or
    hanging channel holds only its own slots: the others keep flowing. The
    next claimed row starts the moment a slot frees, from a small queue of
    rows claimed ahead (at most one more round). Claiming in batches, when
    that queue runs half empty, keeps the slots full under a burst; claiming
    one row per freed slot made every send wait for a claim transaction.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        notifiers: dict[str, Notifier],
        settings: Settings,
        clock: Callable[[], datetime],
        on_slot_free: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._notifiers = notifiers
        self._settings = settings
        self._clock = clock
        self._on_slot_free = on_slot_free
        self._in_flight: set[asyncio.Task[None]] = set()
        self._queue: deque[Claimed] = deque()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run_once(self) -> int:
        """Claim a batch when the queue is half empty; start what fits."""
        concurrency = self._settings.delivery_concurrency
        room = 2 * concurrency - len(self._in_flight) - len(self._queue)
        claimed: list[Claimed] = []
        if room > 0 and len(self._queue) <= concurrency // 2:
            async with self._sessionmaker() as session, session.begin():
                claimed = await claim_due(
                    session,
                    now=self._clock(),
                    limit=room,
                    lease_seconds=self._settings.delivery_lease_seconds,
                )
            self._queue.extend(claimed)
        self._start_queued()
        return len(claimed)

    def _start_queued(self) -> None:
        while self._queue and len(self._in_flight) < self._settings.delivery_concurrency:
            row = self._queue.popleft()
            task = asyncio.create_task(self._deliver(row), name=f"deliver-{row.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None and is_database_outage(error):
            # The row stays `sending`; when its lease expires it is claimed
            # again, so the attempt is repeated rather than lost.
            log.warning("recording a delivery result failed: database unavailable (%s)", type(error).__name__)
        elif error is not None:
            log.error("recording a delivery failed", exc_info=error)
        self._start_queued()
        if len(self._queue) <= self._settings.delivery_concurrency // 2:
            self._on_slot_free()  # time to claim the next batch

    async def _deliver(self, claimed: Claimed) -> None:
        result = await attempt(
            claimed,
            self._notifiers.get(claimed.channel),
            timeout=channel_timeout(self._settings, claimed.channel),
            public_url=self._settings.public_url,
        )
        async with self._sessionmaker() as session, session.begin():
            now = self._clock()
            outcome: str | None
            if result.ok:
                recorded = await record_sent(
                    session, claimed=claimed, now=now, duration_ms=result.duration_ms
                )
                outcome = "sent" if recorded else None
            else:
                outcome = await record_failure(
                    session,
                    claimed=claimed,
                    error=result.error or "unknown error",
                    now=now,
                    settings=self._settings,
                    duration_ms=result.duration_ms,
                    retry_after=result.retry_after,
                    permanent=result.permanent,
                )
        DELIVERY_SECONDS.labels(claimed.channel).observe(result.duration_ms / 1000.0)
        if outcome is None:
            # Our lease ran out mid-attempt and the row was claimed again:
            # the newer attempt owns the row and its result.
            log.warning(
                "delivery lease lost", extra={"notification_id": str(claimed.id), "channel": claimed.channel}
            )
            return
        NOTIFICATIONS.labels(claimed.channel, "retry" if outcome == "pending" else outcome).inc()
        log.info(
            "delivery %s",
            outcome,
            extra={
                "notification_id": str(claimed.id),
                "alert_id": str(claimed.alert_id) if claimed.alert_id else None,
                "channel": claimed.channel,
                "reason": claimed.reason,
                "attempt": claimed.attempts,
                "outcome": outcome,
                "error": result.error,
            },
        )

    async def drain(self) -> None:
        """Wait for every attempt in flight (tests, and a graceful stop)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let attempts in flight finish for a moment, then cancel the rest.
        Their rows, and those claimed ahead but not started, are claimed again
        when their lease expires (by this process after a restart, or by a
        replica)."""
        self._queue.clear()
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(list(self._in_flight), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
