"""Which silences in force match an alert: the compiled index
(services/silence_index.py), kept fresh per process, and the lock.

Freshness. Each process keeps the unreleased silences of each database
compiled (services/silence_index.py). A transaction that asks first reads
the silences' generation: one row (table silence_generation), moved by
every transaction that creates, ends or releases a silence, in that same
transaction. So a change made on any replica is seen at the next
transaction's read, which costs one primary-key look-up however many
silences were ever made; the silences are read again only when it moved,
and only the new ones are compiled. A transaction that changed silences
itself (create, expire, release) reads its own view instead: its new
silences are compiled into the shared table (a silence's matchers never
change, and its place there is never reused), but the shared index counts
only what was committed. A changing transaction writes the generation row
before it locks any alert, so changes queue on that row without deadlock.

Locking. An alert's notifications are held by the first matching silence
that can be locked FOR SHARE SKIP LOCKED on PostgreSQL. A silence being
released holds FOR UPDATE; a notification queued at that moment skips it and
goes out normally (the silence is ending anyway), and the release cannot
start while a transaction that may still write rows held by the silence is
open. So every held row is committed before its silence is released, and
none is left behind. Only the silences that match are locked, each once per
transaction. SQLite serializes writers instead.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Alert, Silence, SilenceGeneration
from app.services.silence_index import ActiveIndex, Row, SilenceTable, Window, active_index, alert_fields

_IN_TRANSACTION = "silence_index"
_CHANGED_IN = "silences_changed_in"
_COMPILE_SLICE_SECONDS = 0.01  # compile at most this long before letting other requests run
_READ_BATCH = 500  # silences' matchers read per statement (bound parameters)
# A table with this many more places than silences unreleased is rebuilt
# with only those (places of ended silences are not reused).
_COMPACT_SLACK = 256

# Plain SQL that reads the same on both databases. A missing row (deleted by
# hand) is made again from a random number, so that no process mistakes the
# new count for one it has already read.
_BUMP = text(
    "INSERT INTO silence_generation (id, generation) VALUES (1, :start) "
    "ON CONFLICT (id) DO UPDATE SET generation = silence_generation.generation + 1"
)


@dataclass(slots=True)
class _Shared:
    """One database's unreleased silences in this process."""

    generation: int | None = None  # None: not read yet
    table: SilenceTable = field(default_factory=SilenceTable)
    unreleased: tuple[Window, ...] = ()
    index: ActiveIndex | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def active(self, now: datetime) -> ActiveIndex:
        if self.index is None or not self.index.covers(now):
            self.index = active_index(self.table, self.unreleased, now)
        return self.index


_shared: weakref.WeakKeyDictionary[Any, _Shared] = weakref.WeakKeyDictionary()


@dataclass(slots=True)
class _Transaction:
    transaction: Any
    now: datetime
    index: ActiveIndex
    lockable: dict[uuid.UUID, bool] = field(default_factory=dict)


async def held_by(session: AsyncSession, alert: Alert, now: datetime) -> list[uuid.UUID]:
    """The silences in force that match the alert, oldest first, each locked
    FOR SHARE; the first holds its notifications (and it is the stores' `hold`)."""
    state = await _state(session, now)
    ids = state.index.matching(alert_fields(alert))
    unknown = [silence_id for silence_id in ids if silence_id not in state.lockable]
    if unknown:
        locked = set(
            await session.scalars(
                select(Silence.id)
                .where(
                    Silence.id.in_(unknown),
                    Silence.starts_at <= now,
                    Silence.ends_at > now,
                    Silence.released_at.is_(None),
                )
                .with_for_update(read=True, skip_locked=True)
            )
        )
        for silence_id in unknown:
            state.lockable[silence_id] = silence_id in locked
    return [silence_id for silence_id in ids if state.lockable[silence_id]]


async def silenced_by(session: AsyncSession, alerts: Sequence[Alert], now: datetime) -> list[list[uuid.UUID]]:
    """For each alert, the silences in force that match it, oldest first
    (read only: nothing locked)."""
    index = (await _state(session, now)).index
    return [index.matching(alert_fields(alert)) for alert in alerts]


async def changed(session: AsyncSession) -> None:
    """This transaction changes silences: it moves the generation (once),
    so that every process reads them again after it commits, and it reads
    its own view from now on."""
    session.info.pop(_IN_TRANSACTION, None)
    transaction = session.get_transaction()
    if session.info.get(_CHANGED_IN) is not transaction:
        await session.execute(_BUMP, {"start": secrets.randbits(62)})
        session.info[_CHANGED_IN] = transaction


async def _state(session: AsyncSession, now: datetime) -> _Transaction:
    """The index for `now`, worked out once per transaction."""
    transaction = session.get_transaction()
    cached: _Transaction | None = session.info.get(_IN_TRANSACTION)
    if cached is not None and cached.transaction is transaction and cached.now == now:
        return cached
    shared = _shared_for(session)
    if transaction is not None and session.info.get(_CHANGED_IN) is transaction:
        async with shared.lock:  # its new silences join the shared table: places are never reused
            table = shared.table
            unreleased = await _load(session, table)
        index = active_index(table, unreleased, now)
    else:
        index = await _fresh(session, shared, now)
    state = _Transaction(transaction, now, index)
    session.info[_IN_TRANSACTION] = state
    return state


def _shared_for(session: AsyncSession) -> _Shared:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    shared = _shared.get(engine)
    if shared is None:
        shared = _shared[engine] = _Shared()
    return shared


async def _fresh(session: AsyncSession, shared: _Shared, now: datetime) -> ActiveIndex:
    generation = await session.scalar(select(SilenceGeneration.generation).where(SilenceGeneration.id == 1))
    generation = generation or 0
    if generation != shared.generation:
        async with shared.lock:
            if generation != shared.generation:  # not reloaded meanwhile by another request
                unreleased = await _load(session, shared.table)
                if len(shared.table) > 2 * len(unreleased) + _COMPACT_SLACK:
                    table = SilenceTable()
                    await _in_slices(table.take(shared.table, [silence.id for silence in unreleased]))
                    shared.table = table
                shared.unreleased = unreleased
                shared.index = None
                shared.generation = generation
    return shared.active(now)


async def _load(session: AsyncSession, table: SilenceTable) -> tuple[Window, ...]:
    """The unreleased silences, oldest first; the ones `table` has not seen
    are read and compiled into it, a slice at a time so that other requests
    go on meanwhile."""
    rows = await session.execute(
        select(Silence.id, Silence.starts_at, Silence.ends_at)
        .where(Silence.released_at.is_(None))
        .order_by(Silence.created_at, Silence.id)
    )
    unreleased = tuple(Window(silence_id, starts_at, ends_at) for silence_id, starts_at, ends_at in rows)
    unseen = [silence.id for silence in unreleased if not table.knows(silence.id)]
    found: list[Row] = []
    for first in range(0, len(unseen), _READ_BATCH):
        batch = unseen[first : first + _READ_BATCH]
        found += [
            (silence_id, matchers, team)
            for silence_id, matchers, team in await session.execute(
                select(Silence.id, Silence.matchers, Silence.team).where(Silence.id.in_(batch))
            )
        ]
    if found:
        await _in_slices(table.add(found))
    return unreleased


async def _in_slices(work: Iterator[None]) -> None:
    deadline = time.monotonic() + _COMPILE_SLICE_SECONDS
    for _ in work:
        if time.monotonic() > deadline:
            await asyncio.sleep(0)
            deadline = time.monotonic() + _COMPILE_SLICE_SECONDS
