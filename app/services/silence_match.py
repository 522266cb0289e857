"""Which silences in force match an alert: the compiled index
(services/silence_index.py), kept fresh per process, and the lock.

Freshness. Each process keeps the unreleased silences of each database
compiled. A transaction that asks first reads a key of the silences table:
(rows, released rows, newest created_at). Silences are never deleted, and
every change inserts a row or sets `released_at`, so a change made on any
replica changes the key: one aggregate statement per transaction, and a
reload only when the key moved, compiling only the silences not seen before.
A transaction that changed silences itself (create, expire, release) reads
its own view instead, which never enters the shared cache: that holds only
what was committed.

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
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Alert, Silence
from app.services.silence_index import (
    ActiveIndex,
    CompiledMatcher,
    CompiledSilence,
    active_index,
    alert_fields,
    compile_matchers,
)

_IN_TRANSACTION = "silence_index"
_CHANGED_IN = "silences_changed_in"
_COMPILE_SLICE_SECONDS = 0.01  # compile at most this long before letting other requests run

Key = tuple[Any, ...]


@dataclass(slots=True)
class _Shared:
    """One database's unreleased silences in this process."""

    key: Key | None = None
    unreleased: tuple[CompiledSilence, ...] = ()
    index: ActiveIndex | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def compiled(self) -> dict[uuid.UUID, CompiledSilence]:
        return {silence.id: silence for silence in self.unreleased}

    def active(self, now: datetime) -> ActiveIndex:
        if self.index is None or not self.index.covers(now):
            self.index = active_index(self.unreleased, now)
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


def forget(session: AsyncSession) -> None:
    """This transaction changed silences: it reads its own view from now on."""
    session.info.pop(_IN_TRANSACTION, None)
    session.info[_CHANGED_IN] = session.get_transaction()


async def _state(session: AsyncSession, now: datetime) -> _Transaction:
    """The index for `now`, worked out once per transaction."""
    transaction = session.get_transaction()
    cached: _Transaction | None = session.info.get(_IN_TRANSACTION)
    if cached is not None and cached.transaction is transaction and cached.now == now:
        return cached
    shared = _shared_for(session)
    if transaction is not None and session.info.get(_CHANGED_IN) is transaction:
        unreleased = await _load(session, shared.compiled())
        index = active_index(unreleased, now)
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
    key = await _key(session)
    if key != shared.key:
        async with shared.lock:
            if key != shared.key:  # not reloaded meanwhile by another request
                shared.unreleased = await _load(session, shared.compiled())
                shared.index = None
                shared.key = key
    return shared.active(now)


async def _key(session: AsyncSession) -> Key:
    row = (
        await session.execute(
            select(func.count(), func.count(Silence.released_at), func.max(Silence.created_at))
        )
    ).one()
    return tuple(row)


async def _load(
    session: AsyncSession, known: dict[uuid.UUID, CompiledSilence]
) -> tuple[CompiledSilence, ...]:
    """The unreleased silences, oldest first; only the ones not in `known`
    are compiled, a slice at a time so that other requests go on meanwhile."""
    rows = await session.execute(
        select(Silence.id, Silence.matchers, Silence.team, Silence.starts_at, Silence.ends_at)
        .where(Silence.released_at.is_(None))
        .order_by(Silence.created_at, Silence.id)
    )
    silences: list[CompiledSilence] = []
    deadline = time.monotonic() + _COMPILE_SLICE_SECONDS
    for silence_id, matchers, team, starts_at, ends_at in rows:
        seen = known.get(silence_id)
        if seen is not None:
            silences.append(seen.with_window(starts_at, ends_at))
            continue
        compiled: tuple[CompiledMatcher, ...] | None = compile_matchers(silence_id, matchers, team)
        if compiled is not None:
            silences.append(CompiledSilence(silence_id, starts_at, ends_at, compiled))
        if time.monotonic() > deadline:
            await asyncio.sleep(0)
            deadline = time.monotonic() + _COMPILE_SLICE_SECONDS
    return tuple(silences)
