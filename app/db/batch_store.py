"""The database side of a batch (services/batch.py): what it reads before
it decides, and the rows it then writes.

`stored` reads, for a batch's identities, every alert the batch may change:
the active ones and the ones that ended within the dedup window (which a
submission reopens). The batch reads them twice: first without locks, to
work everything out outside the write transaction, then again inside it,
locked (FOR UPDATE on PostgreSQL, in fingerprint order like the ingest
statement; SQLite's writer holds the database), to check that nothing moved
in between. Rows come back in one order, so the two reads compare as lists.

The batch works on detached `Alert` objects (`detached`) with the same
functions as the one-alert store (db/alert_changes.py); what it writes is
then each new alert whole, and of each stored alert only the columns that
changed (`changed`), grouped into one statement per set of columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import manager_of_class

from app.db.store import ALERT_COLUMNS
from app.models import ACTIVE_STATUSES, Alert, AlertEvent, EscalationPolicy, OutboxRow
from app.pacing import Pacer

ALERTS: Table = Alert.__table__  # type: ignore[assignment]
EVENTS: Table = AlertEvent.__table__  # type: ignore[assignment]
NOTIFICATIONS: Table = OutboxRow.__table__  # type: ignore[assignment]

# Bound parameters per IN list: within SQLite's and asyncpg's limits.
CHUNK = 500
ROWS_PER_LOOK = 50  # rows decoded between two looks at the clock (app/pacing.py)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for first in range(0, len(values), CHUNK):
        yield values[first : first + CHUNK]


async def stored(
    session: AsyncSession,
    *,
    team: str,
    submitted: Collection[str],
    resolved: Collection[str],
    window_start: datetime,
    lock: bool,
) -> list[Row[Any]]:
    """The team's alerts with these fingerprints that are active or ended
    after `window_start`, by fingerprint and id. `submitted` fingerprints
    count only deduplicated alerts (a submission merges into no other);
    `resolved` ones count every alert, as an Alertmanager resolve does."""
    rows: list[Row[Any]] = []
    every = sorted(set(submitted) | set(resolved))
    connection = await session.connection()  # Core rows: the ORM's result machinery costs more here
    pacer = Pacer()
    for chunk in _chunks(every):
        query = (
            select(*ALERTS.c)
            .where(
                Alert.team == team,
                Alert.fingerprint.in_(chunk),
                or_(
                    Alert.status.in_(ACTIVE_STATUSES),
                    func.coalesce(Alert.resolved_at, Alert.closed_at) > window_start,
                ),
            )
            .order_by(Alert.fingerprint, Alert.id)
        )
        resolving = set(chunk) & set(resolved)  # these take any alert, the others deduplicated ones
        if resolving != set(chunk):
            query = query.where(or_(Alert.deduplicated.is_(True), Alert.fingerprint.in_(sorted(resolving))))
        if lock:
            query = query.with_for_update()
        result = await connection.execute(query)
        for part in result.partitions(ROWS_PER_LOOK):  # rows are decoded here: let others in as it goes
            rows += part
            await pacer.turn()
    return rows


async def policies_kept(session: AsyncSession, ids: Collection[uuid.UUID], *, lock: bool) -> set[uuid.UUID]:
    """Which of the escalation policies the batch's routes chose still exist
    (a route is read up to a second before its policy is deleted on another
    replica). Locked, no deletion can follow before the batch commits."""
    if not ids:
        return set()
    query = select(EscalationPolicy.id).where(EscalationPolicy.id.in_(sorted(ids)))
    if lock:  # SQLite renders no FOR clause: its writer holds the whole database
        query = query.with_for_update(key_share=True)
    return set(await session.scalars(query))


async def newest(session: AsyncSession, *, team: str, fingerprints: Sequence[str]) -> dict[str, uuid.UUID]:
    """The newest alert of each fingerprint, whatever its status: what an
    Alertmanager resolve names when no alert of `stored` is left to end."""
    found: dict[str, uuid.UUID] = {}
    if not fingerprints:
        return found
    for chunk in _chunks(sorted(fingerprints)):
        ranked = (
            select(
                Alert.fingerprint,
                Alert.id,
                func.row_number()
                .over(partition_by=Alert.fingerprint, order_by=Alert.first_seen_at.desc())
                .label("rank"),
            )
            .where(Alert.team == team, Alert.fingerprint.in_(chunk))
            .subquery()
        )
        for fingerprint, alert_id in await session.execute(
            select(ranked.c.fingerprint, ranked.c.id).where(ranked.c.rank == 1)
        ):
            found[fingerprint] = alert_id
    return found


_ALERT_CLASS = manager_of_class(Alert)
_mappers_configured = False


def detached(values: Mapping[Any, Any]) -> Alert:
    """An Alert in no session with these column values (a stored row's, say):
    the batch changes it in memory. Made as SQLAlchemy's loader makes a
    loaded object, the values put straight into its dict: through
    `Alert(**values)` every column is an attribute event, and 1,000 alerts
    took 90 ms instead of 3."""
    global _mappers_configured
    if not _mappers_configured:  # what Alert() would have done first
        configure_mappers()
        _mappers_configured = True
    alert: Alert = _ALERT_CLASS.new_instance()
    alert.__dict__.update(values)
    return alert


def values(item: Alert | AlertEvent | OutboxRow, table: Table) -> dict[str, Any]:
    """Every column of an object made in memory, for an INSERT. A column it
    was not given takes the column's default, as a flush would."""
    given = item.__dict__
    out: dict[str, Any] = {}
    for column in table.columns:
        if column.key in given:
            out[column.key] = given[column.key]
        elif column.default is not None and column.default.is_scalar:
            out[column.key] = column.default.arg  # type: ignore[attr-defined]
        else:
            out[column.key] = None
    return out


def snapshot(alert: Alert) -> dict[str, Any]:
    """The alert's ALERT_COLUMNS as they are now (an answer), read from its
    dict: through the attributes, 30 look-ups per alert were a fifth of a
    batch's time in memory."""
    given = alert.__dict__
    return {name: given[name] if name in given else getattr(alert, name) for name in ALERT_COLUMNS}


def changed(alert: Alert, row: Row[Any]) -> dict[str, Any]:
    """The columns of a stored alert that the batch changed, with their new values."""
    was = row._mapping
    now = alert.__dict__
    return {key: now[key] for key in was if key in now and now[key] != was[key]}
