"""Batches: many submissions, and Alertmanager's resolves, in one transaction.

A batch commits whole or not at all, and gives the same alerts, history and
outbox rows as its operations sent one by one in order: a second submission
of an identity in the same batch merges into the first. The rules are the
one-alert store's (db/alert_changes.py) and the lifecycle's
(services/lifecycle.py), replayed over the batch in memory.

The write lock. SQLite has one writer at a time, so every submission waits
while a batch writes; on PostgreSQL the batch's row locks hold back whoever
touches the same alerts. So almost nothing happens inside the write
transaction. First a read without locks (a deferred transaction on SQLite,
which neither waits for nor takes the write lock) fetches every stored
alert the batch may change, the channels already told about the alerts it
may resolve, and which silences match each alert the batch can produce.
Then, outside any transaction, the batch is worked out: every operation
replayed over those alerts, the answers made, the rows to insert and the
columns to update encoded for the driver (db/bulk.py). Only then the write
transaction: the same read again, locked (FOR UPDATE on PostgreSQL, in
fingerprint order), compared with the first; the silences that hold
notifications locked as the one-alert path locks them (silence_match.held_by);
and one executemany per statement.

If anything moved in between (another writer changed one of these alerts, a
silence that holds one of its notifications ended), the batch is worked out
again from a new read; on
the third try it is worked out inside the write transaction, which cannot
miss a change. A concurrent writer that created the same identity first
(PostgreSQL's unique index), or a deadlock, runs the whole batch again. The
write transaction is also run again once when its connection was lost before
COMMIT (db/transaction.py).

A silence that begins between the read and the write transaction is not
seen, as it would not be by a submission committed just before it.

On PostgreSQL a batch of deduplicating submissions only goes first to the
store's own path (db/pg_batch.py: the ingest statement, in rounds, in one
transaction); what that path declines as a whole (a reopen, a silence in
force) comes here, as does every batch with a resolve or a submission
without deduplication.

The event loop. Working out 1,000 operations is a few hundred milliseconds
of Python; it lets the process's other requests in every 2 ms
(app/pacing.py).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Row
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import alert_changes as changes
from app.db import batch_store, bulk, history, transaction
from app.db import outbox as outbox_rows
from app.db.outage import is_write_conflict
from app.db.store import Ingested, IngestPlan
from app.models import ACTIVE_STATUSES, Alert, AlertEvent, OutboxRow
from app.pacing import Pacer
from app.services import escalation, lifecycle, outbox, silence_match
from app.services.decisions import decisions
from app.services.silence_index import alert_fields
from app.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

SILENCE_LOOKUPS = 100  # alerts matched against the silences per call
OPTIMISTIC_ATTEMPTS = 2  # worked out outside the write transaction; then inside it
ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Resolve:
    """End the active alert of an identity (Alertmanager's `resolved`)."""

    fingerprint: str
    by: str
    note: str | None


Operation = IngestPlan | Resolve


@dataclass(frozen=True, slots=True)
class Ended:
    """What a Resolve did: `resolved`, `already_resolved` (the newest alert
    had ended) or `unknown` (the identity never had an alert)."""

    outcome: str
    alert_id: uuid.UUID | None


Outcome = Ingested | Ended

# A store's own path for a batch of deduplicating submissions
# (db/pg_store.py `ingest_batch`): one answer each, in order, committed
# together; or None, nothing written, when it declines the batch.
FastPath = Callable[[Sequence[IngestPlan]], Awaitable[list[Ingested] | None]]


async def apply(
    sessionmaker: async_sessionmaker[AsyncSession],
    operations: Sequence[Operation],
    *,
    team: str,
    settings: Settings,
    now: datetime,
    fast: FastPath | None = None,
) -> list[Outcome]:
    """Apply the operations in order, in one transaction; one outcome each."""
    if not operations:
        return []
    if fast is not None:
        done = await _fast(fast, operations)
        if done is not None:
            return list(done)
    batch = _Batch(operations, team=team, settings=settings, now=now, dialect=bulk.dialect_of(sessionmaker))
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if attempt <= OPTIMISTIC_ATTEMPTS:
                seen = await transaction.read(sessionmaker, batch.read)
                work = await batch.work_out(seen, hold=seen.assumed)
                return await transaction.run(sessionmaker, functools.partial(batch.commit, work=work))
            return await transaction.run(sessionmaker, batch.work_out_and_commit)
        except _Moved as moved:
            log.info("batch of %d: %s since it was read; working it out again", len(operations), moved)
        except Exception as exc:
            if attempt == ATTEMPTS or not is_write_conflict(exc):
                raise
            log.info(
                "batch of %d met a concurrent writer (%s); running it again",
                len(operations),
                type(exc).__name__,
            )
    raise AssertionError("unreachable")


async def _fast(fast: FastPath, operations: Sequence[Operation]) -> list[Ingested] | None:
    """The store's own path, for a batch it can take; None: the general path's."""
    plans = [op for op in operations if isinstance(op, IngestPlan) and op.deduplicate]
    if len(plans) < len(operations):
        return None
    try:
        return await fast(plans)
    except Exception as exc:
        if not is_write_conflict(exc):
            raise
        log.info(
            "batch of %d met a concurrent writer (%s); taking the general path",
            len(plans),
            type(exc).__name__,
        )
        return None


async def submit_many(
    sessionmaker: async_sessionmaker[AsyncSession],
    plans: Sequence[IngestPlan],
    *,
    team: str,
    settings: Settings,
    now: datetime,
    fast: FastPath | None = None,
) -> list[Ingested]:
    """Submissions only (POST /alerts with an array): one answer each, in order."""
    done = await apply(sessionmaker, plans, team=team, settings=settings, now=now, fast=fast)
    return [outcome for outcome in done if isinstance(outcome, Ingested)]


async def submit_together(
    sessionmaker: async_sessionmaker[AsyncSession], plans: Sequence[IngestPlan], *, settings: Settings
) -> list[Ingested]:
    """Single submissions of one team that arrived together (group commit on
    SQLite, db/sqlite_store.py), as one batch. The batch's clock is the
    earliest of theirs, so its read finds every alert any of them may reopen."""
    now = min(plan.now for plan in plans)
    return await submit_many(sessionmaker, plans, team=plans[0].team, settings=settings, now=now)


class _Moved(Exception):
    """What the batch was worked out from changed before its write transaction."""


FieldsKey = tuple[tuple[str, str], ...]


def _fields_key(alert: Any) -> FieldsKey:
    """What silences match on (services/silence_index.py): of an Alert, a
    submission or a stored row alike."""
    return tuple(sorted(alert_fields(alert).items()))


def _probe(*, team: str, alert_type: str, source: str, severity: str, labels: Mapping[str, str]) -> Alert:
    """An alert with only the fields silences match on."""
    return batch_store.detached(
        {
            "team": team,
            "alert_type": alert_type,
            "source": source,
            "severity": severity,
            "labels": dict(labels),
        }
    )


def _copy(alert: Alert) -> Alert:
    """The fields silences match on, as they are now (later operations may change them)."""
    return _probe(
        team=alert.team,
        alert_type=alert.alert_type,
        source=alert.source,
        severity=alert.severity,
        labels=alert.labels,
    )


@dataclass(slots=True)
class _Check:
    probe: Alert
    assumed: list[uuid.UUID]


# (silences holding the alert, a check the write transaction must make)
Hold = Callable[[Alert], Awaitable[tuple[list[uuid.UUID], _Check | None]]]


@dataclass(slots=True)
class _Seen:
    """What a read found. `rows` and `told` are compared with the locked read."""

    rows: list[Row[Any]]
    told: list[tuple[uuid.UUID, str]]
    newest: dict[str, uuid.UUID]  # answers only: never compared
    policies: set[uuid.UUID] = field(default_factory=set)  # the routed policies that exist
    matches: dict[FieldsKey, list[uuid.UUID]] = field(default_factory=dict)

    async def assumed(self, alert: Alert) -> tuple[list[uuid.UUID], _Check | None]:
        """The silences the unlocked read found matching; a match, or an
        alert whose fields the read did not foresee, is checked (and the
        silence locked) by the write transaction."""
        found = self.matches.get(_fields_key(alert))
        if found is None:
            return [], _Check(_copy(alert), [])
        return list(found), _Check(_copy(alert), list(found)) if found else None


@dataclass(slots=True)
class _Work:
    rows: list[tuple[Any, ...]]
    told: list[tuple[uuid.UUID, str]]
    policies: set[uuid.UUID]
    checks: list[_Check]
    statements: list[bulk.Encoded]
    outcomes: list[Outcome]


class _Batch:
    def __init__(
        self,
        operations: Sequence[Operation],
        *,
        team: str,
        settings: Settings,
        now: datetime,
        dialect: Dialect,
    ) -> None:
        self.operations = operations
        self.team = team
        self.settings = settings
        self.now = now
        self.dialect = dialect
        self.window_start = now - decisions(settings).window
        self.submitted = sorted(
            {op.fingerprint for op in operations if isinstance(op, IngestPlan) and op.deduplicate}
        )
        self.resolved = sorted({op.fingerprint for op in operations if isinstance(op, Resolve)})
        self.routed = {
            op.escalation_policy_id
            for op in operations
            if isinstance(op, IngestPlan) and op.escalation_policy_id is not None
        }

    # --- reading ---------------------------------------------------------------

    async def read(self, session: AsyncSession) -> _Seen:
        seen = await self._read(session, lock=False)
        seen.matches = await self._matches(session, seen.rows)
        return seen

    async def _read(self, session: AsyncSession, *, lock: bool, newest: bool = True) -> _Seen:
        """The stored alerts and told channels; `newest` also reads what the
        answers of resolves with nothing left to end name."""
        rows = await batch_store.stored(
            session,
            team=self.team,
            submitted=self.submitted,
            resolved=self.resolved,
            window_start=self.window_start,
            lock=lock,
        )
        resolved = set(self.resolved)
        told = await outbox.channels_told_many(
            session, (row.id for row in rows if row.fingerprint in resolved)
        )
        found = {row.fingerprint for row in rows}
        unfound = [fp for fp in self.resolved if fp not in found] if newest else []
        kept = await batch_store.policies_kept(session, self.routed, lock=lock)
        for operation in self.operations:  # a policy deleted meanwhile: the configured one, as one by one
            if isinstance(operation, IngestPlan) and operation.escalation_policy_id not in kept:
                operation.escalation_policy_id = None
        newest_ids = await batch_store.newest(session, team=self.team, fingerprints=unfound)
        return _Seen(rows, told, newest_ids, policies=kept)

    async def _matches(self, session: AsyncSession, rows: list[Row[Any]]) -> dict[FieldsKey, list[uuid.UUID]]:
        """The silences matching every alert the batch can leave behind.
        Silences read five fields (services/silence_index.py `alert_fields`:
        team, type, source, severity, labels), so the submissions and the
        stored rows are asked as they are; then, per identity, any other
        pairing of a shape (type, source, labels) with a severity found in
        it, which a merge or a reopen can make."""
        pacer = Pacer()
        asked: dict[FieldsKey, Any] = {}
        shapes: dict[str, set[tuple[str, str, tuple[tuple[str, str], ...]]]] = {}
        severities: dict[str, set[str]] = {}
        items: list[Any] = [op for op in self.operations if isinstance(op, IngestPlan)]
        for item in items + rows:
            asked.setdefault(_fields_key(item), item)
            shapes.setdefault(item.fingerprint, set()).add(
                (item.alert_type, item.source, tuple(sorted(item.labels.items())))
            )
            severities.setdefault(item.fingerprint, set()).add(item.severity)
            await pacer.turn()
        for fingerprint, variants in shapes.items():
            if len(variants) == 1 and len(severities[fingerprint]) == 1:
                continue  # the item itself, asked above
            for alert_type, source, labels in variants:
                for severity in severities[fingerprint]:
                    probe = _probe(
                        team=self.team,
                        alert_type=alert_type,
                        source=source,
                        severity=severity,
                        labels=dict(labels),
                    )
                    asked.setdefault(_fields_key(probe), probe)
        keys = list(asked)
        found: list[list[uuid.UUID]] = []
        for first in range(0, len(keys), SILENCE_LOOKUPS):
            # Submissions and rows have the five fields matching reads.
            some = cast(Sequence[Alert], [asked[key] for key in keys[first : first + SILENCE_LOOKUPS]])
            found += await silence_match.silenced_by(session, some, self.now)
            await pacer.turn()
        return dict(zip(keys, found, strict=True))

    # --- working it out --------------------------------------------------------

    async def work_out(self, seen: _Seen, *, hold: Hold) -> _Work:
        replay = _Replay(self, seen)
        pacer = Pacer()
        for operation in self.operations:
            if isinstance(operation, IngestPlan):
                await replay.submit(operation, hold)
            else:
                await replay.resolve(operation, hold)
            await pacer.turn()
        statements = await replay.statements(pacer)
        return _Work(
            rows=[tuple(row) for row in seen.rows],
            told=seen.told,
            policies=seen.policies,
            checks=list(replay.checks.values()),
            statements=statements,
            outcomes=replay.outcomes,
        )

    # --- writing ---------------------------------------------------------------

    async def commit(self, session: AsyncSession, work: _Work) -> list[Outcome]:
        """The write transaction of a batch worked out from an unlocked read."""
        seen = await self._read(session, lock=True, newest=False)
        if [tuple(row) for row in seen.rows] != work.rows:
            raise _Moved("its stored alerts changed")
        if seen.told != work.told:
            raise _Moved("the channels told about an alert it resolves changed")
        if seen.policies != work.policies:
            raise _Moved("a policy its routes chose was deleted")
        for check in work.checks:
            if await silence_match.held_by(session, check.probe, self.now) != check.assumed:
                raise _Moved("the silences matching an alert changed")
        await bulk.execute(session, work.statements)
        return work.outcomes

    async def work_out_and_commit(self, session: AsyncSession) -> list[Outcome]:
        """The whole batch inside the write transaction: nothing can move."""
        seen = await self._read(session, lock=True)

        async def hold(alert: Alert) -> tuple[list[uuid.UUID], _Check | None]:
            return await silence_match.held_by(session, alert, self.now), None

        work = await self.work_out(seen, hold=hold)
        await bulk.execute(session, work.statements)
        return work.outcomes


class _Replay:
    """The batch's operations applied, in order, to alerts in memory."""

    def __init__(self, batch: _Batch, seen: _Seen) -> None:
        self.batch = batch
        self.seen = seen
        self.stored: dict[uuid.UUID, tuple[Alert, Row[Any]]] = {}
        self.by_fingerprint: dict[str, list[Alert]] = {}
        for row in seen.rows:
            alert = batch_store.detached(row._mapping)
            self.stored[alert.id] = (alert, row)
            self.by_fingerprint.setdefault(alert.fingerprint, []).append(alert)
        self.told: dict[uuid.UUID, set[str]] = {}
        for alert_id, channel in seen.told:
            self.told.setdefault(alert_id, set()).add(channel)
        self.created: list[Alert] = []
        self.events: list[AlertEvent] = []
        self.notices: list[OutboxRow] = []
        self.checks: dict[FieldsKey, _Check] = {}
        self.outcomes: list[Outcome] = []

    def _latest(self, fingerprint: str, *, deduplicated_only: bool) -> Alert | None:
        """The identity's active alert, else its newest (as the one-alert
        paths pick it: db/orm_store.py, services/integrations.py)."""
        candidates = [
            alert
            for alert in self.by_fingerprint.get(fingerprint, ())
            if alert.deduplicated or not deduplicated_only
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda a: (a.status not in ACTIVE_STATUSES, -a.first_seen_at.timestamp()))

    async def _hold(self, alert: Alert, hold: Hold) -> list[uuid.UUID]:
        found, check = await hold(alert)
        if check is not None:
            self.checks.setdefault(_fields_key(check.probe), check)
        return found

    def _queue(self, rows: list[OutboxRow]) -> None:
        self.notices += rows
        for row in rows:
            if outbox.told(row) and row.alert_id is not None:
                self.told.setdefault(row.alert_id, set()).add(row.channel)

    async def submit(self, plan: IngestPlan, hold: Hold) -> None:
        alert = self._latest(plan.fingerprint, deduplicated_only=True) if plan.deduplicate else None
        if alert is not None and alert.status in ACTIVE_STATUSES:
            outcome, events = "duplicate", changes.merged(alert, plan)
        elif alert is not None and changes.ended_within_window(alert, plan):
            outcome, events = "reopened", changes.reopened(alert, plan)
        else:
            outcome = "created"
            alert, events = changes.created(plan, deduplicated=plan.deduplicate, build=batch_store.detached)
            self.created.append(alert)
            self.by_fingerprint.setdefault(alert.fingerprint, []).append(alert)
        self.events += events
        silenced_by = await self._hold(alert, hold)
        rows, queued = changes.notices(alert, plan, silenced_by)
        self._queue(rows)
        self.outcomes.append(
            Ingested(batch_store.snapshot(alert), outcome, alert.last_notify_reason, queued, silenced_by)
        )

    async def resolve(self, operation: Resolve, hold: Hold) -> None:
        """As services/lifecycle.py `change_status` resolves an alert."""
        batch = self.batch
        alert = self._latest(operation.fingerprint, deduplicated_only=False)
        if alert is None:
            newest = self.seen.newest.get(operation.fingerprint)
            self.outcomes.append(Ended("already_resolved" if newest else "unknown", newest))
            return
        if alert.status not in ACTIVE_STATUSES:
            self.outcomes.append(Ended("already_resolved", alert.id))
            return
        previous, now = alert.status, batch.now
        lifecycle.check_move(previous, "resolved")
        lifecycle.apply_move(alert, target="resolved", by=operation.by, note=operation.note, now=now)
        escalation.schedule_by(alert, settings=batch.settings, own=None, now=now)  # resolved: no policy read
        self.events.append(
            history.event(
                alert.id,
                kind="status",
                at=now,
                actor=operation.by,
                from_status=previous,
                to_status="resolved",
                note=operation.note,
            )
        )
        if batch.settings.enabled:
            told = sorted(self.told.get(alert.id, ()))
            channels = outbox.route(alert, batch.settings, reason="resolved", extra=told)
            if channels:
                held = await self._hold(alert, hold)
                self._queue(
                    outbox_rows.rows(
                        alert_id=alert.id,
                        channels=channels,
                        reason="resolved",
                        level=alert.escalation_level,
                        now=now,
                        silence_id=held[0] if held else None,
                    )
                )
        self.outcomes.append(Ended("resolved", alert.id))

    async def statements(self, pacer: Pacer) -> list[bulk.Encoded]:
        """The writes, encoded: new alerts whole (in fingerprint order, as
        every writer takes identities), stored alerts' changed columns (one
        statement per set of columns), then history and outbox rows."""
        dialect = self.batch.dialect
        alerts, events, notices = batch_store.ALERTS, batch_store.EVENTS, batch_store.NOTIFICATIONS
        in_order = sorted(self.created, key=lambda a: (a.fingerprint, str(a.id)))
        encoded = [
            await _encode(
                bulk.inserting(dialect, alerts, tuple(alerts.c.keys())),
                in_order,
                lambda alert: batch_store.values(alert, alerts),
                pacer,
            )
        ]
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        stored = sorted(self.stored.values(), key=lambda pair: (pair[0].fingerprint, str(pair[0].id)))
        for alert, row in stored:
            changed = batch_store.changed(alert, row)
            if changed:
                by_columns.setdefault(tuple(sorted(changed)), []).append(changed | {bulk.KEY: alert.id})
            await pacer.turn()
        for names, rows in by_columns.items():
            encoded.append(await _encode(bulk.updating(dialect, alerts, names), rows, lambda row: row, pacer))
        numbered_by_the_database = tuple(column.key for column in events.c if column.key != "id")
        encoded.append(
            await _encode(
                bulk.inserting(dialect, events, numbered_by_the_database),
                self.events,
                lambda event: batch_store.values(event, events),
                pacer,
            )
        )
        encoded.append(
            await _encode(
                bulk.inserting(dialect, notices, tuple(notices.c.keys())),
                self.notices,
                lambda row: batch_store.values(row, notices),
                pacer,
            )
        )
        return encoded


async def _encode(
    statement: bulk.Statement, items: Sequence[T], row_of: Callable[[T], dict[str, Any]], pacer: Pacer
) -> bulk.Encoded:
    """The statement's rows for `items`, letting other requests in as it goes."""
    out: list[tuple[Any, ...]] = []
    for item in items:
        out.append(statement.encode_one(row_of(item)))
        await pacer.turn()
    return bulk.Encoded(statement, out)
