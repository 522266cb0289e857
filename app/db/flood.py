"""Flood control and provider pauses in the database, so that every replica
and every restart sees the same (the rules are services/flood.py's; they
arrive here as data, a `Quotas` and pause times).

Per channel, one `channel_states` row holds a pause a provider asked for
(`paused_until`) and how many individual notifications were started in the
current clock minute (`window_start`, `window_sent`). A claim that picked
fresh rows of a limited channel locks the state rows of every limited
channel, in channel order (after picking its outbox rows with SKIP LOCKED,
which never waits), so two replicas cannot both hand out the last share of
a minute; a claim that picks again, for the room folding left, takes no
new lock. The rows past a channel's share become `folded`, pointing at the
digest of the channel and minute: one outbox row (reason `digest`), inserted ON CONFLICT DO NOTHING
on the unique (channel, window_start), so two replicas make one. A digest
already claimed (another replica's clock passed the minute) takes no more
rows: they stay pending, and the next minute apportions them. A person's
row (an escalation step's, with a `recipient`) is never folded and takes no
share, as a retry: a digest goes to the channel's own recipients, never to
the person paged.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.store import ALERT_COLUMNS, FoldedRow, Quotas
from app.models import Alert, ChannelState, OutboxRow

DIGEST = "digest"


def not_paused(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """The outbox rows whose channel no provider has paused at `now`."""
    paused = select(ChannelState.channel).where(ChannelState.paused_until > now)
    return OutboxRow.channel.not_in(paused.scalar_subquery())


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


# A claim picks again while folding left room, up to this many times: a
# backlog folds in one claim rather than one poll at a time.
ROUNDS = 8


async def apportion(
    session: AsyncSession, *, due: ColumnElement[bool], limit: int, quotas: Quotas, now: datetime
) -> list[uuid.UUID]:
    """Pick up to `limit` due rows (FOR UPDATE SKIP LOCKED); fold the fresh
    ones past their channel's share of the window into its digest, and pick
    again for the room that left. Returns the ids to claim, oldest due first."""
    claim: list[uuid.UUID] = []
    seen: list[uuid.UUID] = []
    states: dict[str, tuple[Any, int]] | None = None
    for _ in range(ROUNDS):
        picked = (
            await session.execute(
                select(
                    OutboxRow.id,
                    OutboxRow.channel,
                    OutboxRow.reason,
                    OutboxRow.attempts,
                    OutboxRow.level,
                    OutboxRow.recipient,
                )
                .where(due, OutboxRow.id.not_in(seen))
                .order_by(OutboxRow.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        seen += [row.id for row in picked]
        fresh: dict[str, list[Any]] = {}  # picked rows
        for row in picked:
            if (
                row.channel in quotas.per_window
                and row.attempts == 0
                and row.reason not in quotas.exempt
                and row.recipient is None
            ):
                fresh.setdefault(row.channel, []).append(row)
        if fresh and states is None:
            # Every limited channel's row, once, in channel order: a later
            # round then takes no new lock (no deadlock with another claim).
            states = await _lock_states(session, sorted(quotas.per_window))
        held = await _fold(session, fresh, states or {}, quotas, now=now)
        # Past `limit`, a picked row is left pending (its lock ends with the claim).
        claim += [row.id for row in picked if row.id not in held][: limit - len(claim)]
        if len(picked) < limit or len(claim) >= limit:
            break
    return claim


async def _fold(
    session: AsyncSession,
    fresh: dict[str, list[Any]],
    states: dict[str, tuple[Any, int]],
    quotas: Quotas,
    *,
    now: datetime,
) -> set[uuid.UUID]:
    """Fold the fresh rows past each channel's share; returns the ids not to
    claim (folded, or left pending when the digest is gone)."""
    held: set[uuid.UUID] = set()
    for channel in sorted(fresh):
        rows = fresh[channel]
        window_start, sent = states[channel]
        used = sent if window_start == quotas.window_start else 0
        room = max(0, quotas.per_window[channel] - used)
        over = rows[room:]
        if over:
            held |= {row.id for row in over}
            digest_id = await _open_digest(
                session, channel, quotas, now=now, level=max(row.level for row in over)
            )
            if digest_id is not None:
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_([row.id for row in over]))
                    .values(status="folded", digest_id=digest_id, lease_until=None)
                    .execution_options(synchronize_session=False)
                )
        states[channel] = (quotas.window_start, used + len(rows) - len(over))
        await session.execute(
            update(ChannelState)
            .where(ChannelState.channel == channel)
            .values(window_start=quotas.window_start, window_sent=states[channel][1])
            .execution_options(synchronize_session=False)
        )
    return held


async def _lock_states(session: AsyncSession, channels: Sequence[str]) -> dict[str, tuple[Any, int]]:
    """The channels' state rows, created when missing, locked in channel
    order (every writer of them takes that order: no deadlock)."""
    insert = _insert(session)
    await session.execute(
        insert(ChannelState)
        .values([{"channel": name, "window_sent": 0} for name in channels])
        .on_conflict_do_nothing(index_elements=["channel"])
    )
    rows = await session.execute(
        select(ChannelState.channel, ChannelState.window_start, ChannelState.window_sent)
        .where(ChannelState.channel.in_(channels))
        .order_by(ChannelState.channel)
        .with_for_update()
    )
    return {channel: (start, sent) for channel, start, sent in rows}


async def _open_digest(
    session: AsyncSession, channel: str, quotas: Quotas, *, now: datetime, level: int
) -> uuid.UUID | None:
    """The id of the channel's digest for the window, made if missing; None
    when it was claimed already (or is being claimed) and takes no more."""
    insert = _insert(session)
    await session.execute(
        insert(OutboxRow)
        .values(
            id=uuid.uuid4(),
            alert_id=None,
            channel=channel,
            reason=DIGEST,
            level=level,
            status="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=quotas.window_end,
            window_start=quotas.window_start,
        )
        .on_conflict_do_nothing(index_elements=["channel", "window_start"])
    )
    found = (
        await session.execute(
            select(OutboxRow.id, OutboxRow.status, OutboxRow.attempts)
            .where(OutboxRow.channel == channel, OutboxRow.window_start == quotas.window_start)
            .with_for_update(skip_locked=True)
        )
    ).first()
    if found is None or found.status != "pending" or found.attempts != 0:
        return None
    digest_id: uuid.UUID = found.id
    return digest_id


async def pause(session: AsyncSession, pauses: Mapping[str, datetime]) -> None:
    """Pause channels until the given times (a later pause already in place
    stands), in channel order."""
    if not pauses:
        return
    insert = _insert(session)
    statement = insert(ChannelState).values(
        [{"channel": name, "paused_until": pauses[name], "window_sent": 0} for name in sorted(pauses)]
    )
    current = ChannelState.__table__.c.paused_until
    statement = statement.on_conflict_do_update(
        index_elements=["channel"],
        set_={
            "paused_until": case(
                (
                    or_(current.is_(None), current < statement.excluded.paused_until),
                    statement.excluded.paused_until,
                ),
                else_=current,
            )
        },
    )
    await session.execute(statement)


async def folded_of(
    session: AsyncSession, digest_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[FoldedRow, ...]]:
    """Per digest, the notifications folded into it with their alerts, oldest first."""
    found: dict[uuid.UUID, list[FoldedRow]] = {digest_id: [] for digest_id in digest_ids}
    rows = await session.execute(
        select(OutboxRow.digest_id, OutboxRow.id, OutboxRow.alert_id, OutboxRow.reason, OutboxRow.level,
               OutboxRow.created_at, Alert)
        .outerjoin(Alert, Alert.id == OutboxRow.alert_id)
        .where(OutboxRow.digest_id.in_(list(digest_ids)), OutboxRow.status == "folded")
        .order_by(OutboxRow.created_at, OutboxRow.id)
    )  # fmt: skip
    for digest_id, row_id, alert_id, reason, level, created_at, alert in rows:
        columns = None if alert is None else {name: getattr(alert, name) for name in ALERT_COLUMNS}
        found[digest_id or row_id].append(FoldedRow(row_id, alert_id, reason, level, created_at, columns))
    return {digest_id: tuple(items) for digest_id, items in found.items()}


async def states(session: AsyncSession) -> dict[str, ChannelState]:
    """Every channel's shared state (GET /channels)."""
    return {state.channel: state for state in await session.scalars(select(ChannelState))}
