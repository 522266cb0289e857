"""The store through the ORM: SQLite, and PostgreSQL's general path.

Submissions. Identical submissions racing each other are settled by the
database: a partial unique index allows one active alert per identity (team and fingerprint). On
PostgreSQL the existing alert is locked with SELECT ... FOR UPDATE; a racing
insert that loses gets a unique violation, rolls back to its savepoint and
retries, then finds the winner's row and merges into it. On SQLite every
transaction begins IMMEDIATE (see db/engine.py), so writers are serialized
and the race cannot happen.

Delivery. Claiming marks rows `sending` with a lease and counts the attempt
in one UPDATE ... RETURNING (FOR UPDATE SKIP LOCKED on PostgreSQL, so
replicas never claim the same row); rows of a paused channel are left, and
with flood control the rows past a channel's share are folded into its
digest instead (db/flood.py). Every result is written only if the row
is still ours (its lease unchanged), so a worker whose lease expired cannot
overwrite a newer attempt. On SQLite, a claim without flood control and
sent results that keep no reference go through db/sqlite_delivery.py
instead (one call each on a thread of its own), and the rest here is a
deferrable write (db/engine.py).

`ingest` in a caller's session is for callers that own a larger transaction
(a PagerDuty event); `OrmStore` runs each call in a transaction of its
own, as the one-statement store does, run again once when its connection was
lost before COMMIT (db/transaction.py). What a submission does to the alert
is db/alert_changes.py, shared with batches (services/batch.py).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    case,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import alert_changes as changes
from app.db import channel_messages, flood, sent_results, sqlite_calls, sqlite_delivery, transaction
from app.db.claims import CLAIMED, claimed_rows, due_rows, threaded
from app.db.store import (
    ALERT_COLUMNS,
    ClaimedRow,
    Failed,
    FoldedRow,
    Ingested,
    IngestPlan,
    Quotas,
    Released,
    Sent,
)
from app.models import ACTIVE_STATUSES, Alert, EscalationPolicy, OutboxRow

SUBMIT_ATTEMPTS = 5
MAX_ERROR_CHARS = 1_000

# The silences in force that match an alert (services/silence_match.py): the
# first one holds its notifications.
Hold = Callable[[AsyncSession, Alert, datetime], Awaitable[list[uuid.UUID]]]


def columns(alert: Alert) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in ALERT_COLUMNS}


# --- submissions -------------------------------------------------------------------


async def ingest(session: AsyncSession, plan: IngestPlan, *, hold: Hold) -> Ingested:
    """Create, merge or reopen, with the events and outbox rows that go with
    it; flushes, never commits."""
    if not plan.deduplicate:
        return await _create(session, plan, hold=hold, deduplicated=False)
    for attempt in range(SUBMIT_ATTEMPTS):
        try:
            async with session.begin_nested():
                return await _ingest_once(session, plan, hold=hold)
        except IntegrityError:
            # Another submission created or reopened this identity's alert
            # between our read and our write; the retry finds it and merges.
            if attempt == SUBMIT_ATTEMPTS - 1:
                raise
            if plan.escalation_policy_id is not None and await _policy_gone(
                session, plan.escalation_policy_id
            ):
                # Its route was read before the policy was deleted (a
                # second ago, on another replica): the configured policy.
                plan.escalation_policy_id = None
    raise AssertionError("unreachable")


async def _policy_gone(session: AsyncSession, policy_id: uuid.UUID) -> bool:
    return await session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.id == policy_id)) is None


def _latest_of_identity(team: str, fingerprint: str) -> Select[Alert]:
    active_first = case((Alert.status.in_(ACTIVE_STATUSES), 0), else_=1)
    return (
        select(Alert)
        .where(Alert.team == team, Alert.fingerprint == fingerprint, Alert.deduplicated.is_(True))
        .order_by(active_first, Alert.first_seen_at.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _ingest_once(session: AsyncSession, plan: IngestPlan, *, hold: Hold) -> Ingested:
    alert = await session.scalar(_latest_of_identity(plan.team, plan.fingerprint))
    if alert is not None and alert.status in ACTIVE_STATUSES:
        return await _merge(session, alert, plan, hold=hold)
    if alert is not None and changes.ended_within_window(alert, plan):
        return await _reopen(session, alert, plan, hold=hold)
    return await _create(session, plan, hold=hold, deduplicated=True)


async def _create(session: AsyncSession, plan: IngestPlan, *, hold: Hold, deduplicated: bool) -> Ingested:
    alert, events = changes.created(plan, deduplicated=deduplicated)
    session.add(alert)
    await session.flush()  # the alert row must exist before rows that point at it
    session.add_all(events)
    return await _finish(session, alert, plan, outcome="created", hold=hold)


async def _merge(session: AsyncSession, alert: Alert, plan: IngestPlan, *, hold: Hold) -> Ingested:
    session.add_all(changes.merged(alert, plan))
    return await _finish(session, alert, plan, outcome="duplicate", hold=hold)


async def _reopen(session: AsyncSession, alert: Alert, plan: IngestPlan, *, hold: Hold) -> Ingested:
    events = changes.reopened(alert, plan)
    await session.flush()  # may hit the unique index: the caller retries
    session.add_all(events)
    return await _finish(session, alert, plan, outcome="reopened", hold=hold)


async def _finish(
    session: AsyncSession, alert: Alert, plan: IngestPlan, *, outcome: str, hold: Hold
) -> Ingested:
    silenced_by = await hold(session, alert, plan.now)
    rows, queued = changes.notices(alert, plan, silenced_by)
    session.add_all(rows)
    await session.flush()
    return Ingested(columns(alert), outcome, alert.last_notify_reason, queued, silenced_by)


# --- delivery ----------------------------------------------------------------------


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    quotas: Quotas | None = None,
    in_order: Sequence[str] = (),
) -> list[ClaimedRow]:
    """Claim up to `limit` due rows of channels not paused: one UPDATE ...
    RETURNING whose subquery picks them (FOR UPDATE SKIP LOCKED on
    PostgreSQL), then one read of their alerts (and of a digest's folded
    rows, and of the references kept for the `in_order` channels' rows; see
    Store.claim). With `quotas`, the rows are picked first and apportioned
    (db/flood.py)."""
    due = due_rows(now, list(in_order) if in_order else None)
    if quotas is not None:
        ids = await flood.apportion(session, due=due, limit=limit, quotas=quotas, now=now)
        if not ids:
            return []
        chosen = OutboxRow.id.in_(ids)
    else:
        picked = (
            select(OutboxRow.id)
            .where(due)
            .order_by(OutboxRow.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        chosen = OutboxRow.id.in_(picked.scalar_subquery())
    lease_until = now + timedelta(seconds=lease_seconds)
    result = await session.execute(
        update(OutboxRow)
        .where(chosen)
        .values(status="sending", lease_until=lease_until, attempts=OutboxRow.attempts + 1)
        .returning(*CLAIMED)
        .execution_options(synchronize_session=False)
    )
    rows = sorted(result.mappings(), key=lambda row: row["next_attempt_at"])  # RETURNING keeps no order
    if not rows:
        return []
    alert_ids = {row["alert_id"] for row in rows if row["alert_id"] is not None}
    alerts = (
        {a.id: columns(a) for a in await session.scalars(select(Alert).where(Alert.id.in_(alert_ids)))}
        if alert_ids
        else {}
    )
    digests = [row["id"] for row in rows if row["reason"] == flood.DIGEST]
    folded = await flood.folded_of(session, digests) if digests else {}
    kept = await channel_messages.read(session, threaded(rows, in_order))
    return claimed_rows(rows, lease_until, alerts, folded, kept)


async def record(
    session: AsyncSession,
    *,
    sent: Sequence[Sent],
    failed: Sequence[Failed],
    now: datetime,
    released: Sequence[Released] = (),
) -> dict[uuid.UUID, str | None]:
    statuses: dict[uuid.UUID, str | None] = {}
    if sent:
        marked = await mark_sent(session, sent=sent, now=now)
        statuses |= {item.row.id: "sent" if item.row.id in marked else None for item in sent}
        await channel_messages.keep(
            session,
            [
                (item.row.alert_id, item.row.channel, item.reference)
                for item in sent
                if item.row.id in marked and item.row.alert_id is not None and item.reference is not None
            ],
            now=now,
        )
    for item in failed:
        statuses[item.row.id] = await _record_failure(session, item)
    for held in released:
        statuses[held.row.id] = await _release(session, held)
    # Last, after the outbox rows: a claim locks its rows before the states.
    pauses: dict[str, datetime] = {}
    for item in failed:
        if item.pause_until is not None:
            pauses[item.row.channel] = max(item.pause_until, pauses.get(item.row.channel, item.pause_until))
    await flood.pause(session, pauses)
    return statuses


async def mark_sent(session: AsyncSession, *, sent: Sequence[Sent], now: datetime) -> set[uuid.UUID]:
    """Mark sent the rows still ours, in one statement per RECORD_CHUNK, and
    count them on their alerts; returns the ids marked."""
    marked: list[tuple[uuid.UUID, uuid.UUID | None]] = []
    connection = await session.connection()  # Core statements: none of the ORM's bookkeeping
    for statement, params in sent_results.marking(sent, now=now):
        marked += [(row_id, alert_id) for row_id, alert_id in await connection.execute(statement, params)]
    await _count_sent(session, Counter(alert_id for _, alert_id in marked if alert_id is not None))
    return {row_id for row_id, _ in marked}


async def _count_sent(session: AsyncSession, per_alert: Counter[uuid.UUID]) -> None:
    if not per_alert:
        return
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # Lock the alerts in one order first: two workers recording batches
        # that share alerts would otherwise lock them in scan order and could
        # deadlock. It is the ingest statement's order (by fingerprint,
        # db/pg_ingest.py), so a batch of duplicates and a batch of results
        # cannot deadlock either. (SQLite has one writer: nothing to order.)
        await connection.execute(
            select(Alert.id)
            .where(Alert.id.in_(per_alert))
            .order_by(Alert.fingerprint, Alert.id)
            .with_for_update()
        )
    await connection.execute(
        sent_results.ADD_SENT, [{"alert": alert, "sent": n} for alert, n in per_alert.items()]
    )


async def _record_failure(session: AsyncSession, item: Failed) -> str | None:
    ours = await _update_if_ours(
        session,
        item.row,
        status=item.status,
        last_error=item.error[:MAX_ERROR_CHARS],
        lease_until=None,
        duration_ms=item.duration_ms,
        next_attempt_at=item.next_attempt_at,
    )
    return item.status if ours else None


async def _release(session: AsyncSession, held: Released) -> str | None:
    """Pending again at `held.until`, the claim's attempt uncounted, if still ours."""
    ours = await _update_if_ours(
        session,
        held.row,
        status="pending",
        lease_until=None,
        attempts=OutboxRow.attempts - 1,
        next_attempt_at=held.until,
    )
    return "pending" if ours else None


async def _update_if_ours(session: AsyncSession, row: ClaimedRow, **values: Any) -> bool:
    """Change a claimed row only while its lease is the one we claimed it
    with (no newer attempt owns it); whether it was."""
    result = await session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == row.id,
            OutboxRow.status == "sending",
            OutboxRow.lease_until == row.lease_until,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# --- the store ---------------------------------------------------------------------


class OrmStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, hold: Hold) -> None:
        self.sessionmaker = sessionmaker
        self.hold = hold
        # On SQLite the delivery's writes are one call each and let waiting
        # submissions go first (db/sqlite_delivery.py).
        engine = sessionmaker.kw["bind"]
        self._sqlite = engine.dialect.name == "sqlite"
        self._calls = sqlite_calls.of(engine) if self._sqlite else None

    async def ingest(self, plan: IngestPlan) -> Ingested:
        return await transaction.run(self.sessionmaker, lambda session: ingest(session, plan, hold=self.hold))

    async def claim(
        self,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        quotas: Quotas | None = None,
        in_order: Sequence[str] = (),
    ) -> list[ClaimedRow]:
        if self._calls is not None and quotas is None:
            return await sqlite_delivery.claim(
                self._calls,
                self.sessionmaker,
                now=now,
                limit=limit,
                lease_seconds=lease_seconds,
                in_order=in_order,
            )
        return await transaction.run(
            self.sessionmaker,
            lambda session: claim(
                session, now=now, limit=limit, lease_seconds=lease_seconds, quotas=quotas, in_order=in_order
            ),
            deferrable=self._sqlite,
        )

    async def folded(self, digest_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[FoldedRow, ...]]:
        """The folded rows of digests another claim took (db/pg_store.py)."""
        return await transaction.read(self.sessionmaker, lambda session: flood.folded_of(session, digest_ids))

    async def record(
        self,
        *,
        sent: Sequence[Sent],
        failed: Sequence[Failed],
        now: datetime,
        released: Sequence[Released] = (),
    ) -> dict[uuid.UUID, str | None]:
        statuses: dict[uuid.UUID, str | None] = {}
        if self._calls is not None:
            plain = [item for item in sent if item.reference is None]
            if plain:
                marked = await sqlite_delivery.mark_sent(self._calls, plain, now=now)
                statuses = {item.row.id: "sent" if item.row.id in marked else None for item in plain}
                sent = [item for item in sent if item.reference is not None]
        if not sent and not failed and not released:
            return statuses
        return statuses | await transaction.run(
            self.sessionmaker,
            lambda session: record(session, sent=sent, failed=failed, now=now, released=released),
            deferrable=self._sqlite,
        )

    async def close(self) -> None:
        return None
