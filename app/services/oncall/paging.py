"""The escalation ticker's steps for alerts that follow a stored policy.

An alert whose route chose a policy (`escalation_policy_id`) is escalated
by that policy's steps (services/oncall/policy_steps.py says which step is
due) instead of the configured [escalation] rules. A step's targets are
resolved when it is done, in the ticker's transaction: a schedule to the
person on call then, a user to that user, a channel to the channel. Each
person gets one outbox row per contact method, through the channel that
delivers its type (services/oncall/contacts.py), at the method's address.
What could not be reached (nobody on call, no such schedule or user, a
contact type without a channel) is said in the step's history event, and
nothing is sent for it.

A `Paging` belongs to one tick: it reads the policies of the alerts due,
and through a `Reach` the schedules and people their due steps name, once
for the whole batch (a few statements however many alerts), and never
keeps them past the tick, so a change reaches the next step.

Exactly once: the ticker holds each due alert FOR UPDATE; the step's
history event, its outbox rows and the alert's new step and next due time
commit together. A second ticker waits for that commit and then finds the
alert no longer due (services/escalation.py `escalate_due`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import batch_store, bulk, history
from app.models import Alert, AlertEvent, OutboxRow
from app.models import EscalationPolicy as PolicyRow
from app.routing_schemas import parse_target
from app.services import outbox
from app.services.oncall.contacts import ContactChannels
from app.services.oncall.policy_steps import (
    Due,
    Policy,
    StoredPolicy,
    due_steps,
    level_of,
    next_due,
)
from app.services.oncall.reach import NO_SUCH_SCHEDULE, Person, Reach
from app.services.oncall.schedules import CHUNK
from app.settings import Settings

POLICY_COLUMNS = (
    PolicyRow.id,
    PolicyRow.team,
    PolicyRow.name,
    PolicyRow.steps,
    PolicyRow.repeat_last_step,
    PolicyRow.repeat_every_minutes,
)


@dataclass(frozen=True, slots=True)
class Paged:
    """One step done for an alert."""

    kind: str  # "escalation" or "repeat"
    from_level: int
    to_level: int
    notifications: int


async def load_policy(session: AsyncSession, policy_id: uuid.UUID) -> Policy | None:
    """One policy, for code that reschedules one alert (one statement)."""
    row = await session.get(PolicyRow, policy_id)
    return None if row is None else Policy.of(row)


class Paging:
    def __init__(self, session: AsyncSession, *, settings: Settings, now: datetime) -> None:
        self._session = session
        self._settings = settings
        self._now = now
        self._policies: dict[uuid.UUID, Policy | None] = {}
        self._reach = Reach(session, at=now)
        self._contacts = ContactChannels.of(settings)
        # Written by `write`, a statement each per batch: through the unit of
        # work, 1,000 steps' events and rows cost more than the rest of the tick.
        self._events: list[AlertEvent] = []
        self._rows: list[OutboxRow] = []

    async def prepare(self, alerts: Sequence[Alert]) -> None:
        """Read the policies of these alerts and what their due steps name."""
        wanted = sorted(
            {a.escalation_policy_id for a in alerts if a.escalation_policy_id} - self._policies.keys()
        )
        for first in range(0, len(wanted), CHUNK):
            chunk = wanted[first : first + CHUNK]
            # Columns, not ORM objects: a tick may read a thousand policies.
            found = await self._session.execute(select(*POLICY_COLUMNS).where(PolicyRow.id.in_(chunk)))
            rows: dict[uuid.UUID, StoredPolicy] = {row.id: row for row in found}
            for policy_id in chunk:
                row = rows.get(policy_id)
                self._policies[policy_id] = None if row is None else Policy.of(row)
        schedules: set[tuple[str, str]] = set()
        users: set[tuple[str, str]] = set()
        for alert in alerts:
            policy = self.policy_of(alert)
            if policy is None:
                continue
            for due in self._due(alert, policy):
                for text in policy.steps[due.index].targets:
                    target = parse_target(text)
                    if target.kind == "schedule":
                        schedules.add((policy.team, target.name))
                    elif target.kind == "user":
                        users.add((policy.team, target.name))
        await self._reach.load(schedules=schedules, users=users)

    def policy_of(self, alert: Alert) -> Policy | None:
        """The alert's own policy (read by `prepare`); None: the settings' rules
        apply (it has none, or it was deleted)."""
        if alert.escalation_policy_id is None:
            return None
        return self._policies.get(alert.escalation_policy_id)

    def _due(self, alert: Alert, policy: Policy) -> list[Due]:
        return due_steps(
            policy,
            done=alert.escalation_step,
            triggered_at=alert.triggered_at,
            escalated_at=alert.escalated_at,
            now=self._now,
        )

    async def escalate(self, alert: Alert, policy: Policy) -> list[Paged]:
        """Do the alert's due steps and schedule its next one."""
        done: list[Paged] = []
        for due in self._due(alert, policy):
            done.append(await self._do(alert, policy, due))
            alert.escalation_step += 1
            alert.escalated_at = self._now
        alert.next_escalation_at = next_due(
            policy,
            done=alert.escalation_step,
            triggered_at=alert.triggered_at,
            escalated_at=alert.escalated_at,
        )
        return done

    async def _do(self, alert: Alert, policy: Policy, due: Due) -> Paged:
        step = policy.steps[due.index]
        notes: list[str] = []
        channels: list[str] = []
        people: dict[uuid.UUID, Person] = {}
        for text in step.targets:
            target = parse_target(text)
            if target.kind == "channel":
                if target.name in self._settings.channels:
                    channels.append(target.name)
                else:
                    notes.append(f"{text}: no such channel is configured")
            elif target.kind == "schedule":
                found = self._reach.on_call(policy.team, target.name)
                if found is NO_SUCH_SCHEDULE:
                    notes.append(f"{text}: team {policy.team!r} has no such schedule")
                elif found is None:
                    notes.append(f"{text}: nobody is on call")
                elif isinstance(found, Person):
                    people.setdefault(found.id, found)
            else:
                user = self._reach.member(policy.team, target.name)
                if user is None:
                    notes.append(f"{text}: no such user in team {policy.team!r}")
                else:
                    people.setdefault(user.id, user)
        rows, notified = self._contact_rows(people.values(), notes)
        previous = alert.escalation_level
        level = level_of(due.index)
        alert.escalation_level = level
        alert.max_escalation_level = max(alert.max_escalation_level, level)
        self._events.append(
            history.event(
                alert.id,
                kind=due.kind,
                at=self._now,
                actor="escalation",
                note="; ".join(notes) or None,
                from_level=previous,
                to_level=level,
                policy=policy.name,
                policy_id=str(policy.id),
                step=due.index + 1,
                targets=list(step.targets),
                notified=notified,
                channels=channels,
            )
        )
        queued = await outbox.step_rows(
            self._session,
            alert=alert,
            reason=due.kind,
            level=level,
            channels=channels,
            people=rows,
            settings=self._settings,
            now=self._now,
        )
        self._rows += queued
        return Paged(due.kind, previous, level, len(queued))

    def add(self, event: AlertEvent, rows: Sequence[OutboxRow]) -> None:
        """A step done by other rules (the settings' escalation rules), to
        be written with this batch's (services/escalation.py)."""
        self._events.append(event)
        self._rows += rows

    async def write(self) -> None:
        """Insert the events and outbox rows of the steps done since the last
        call, one executemany each (db/bulk.py)."""
        events, rows, self._events, self._rows = self._events, self._rows, [], []
        dialect = self._session.get_bind().dialect
        numbered_by_the_database = tuple(c.key for c in batch_store.EVENTS.c if c.key != "id")
        to_events = bulk.inserting(dialect, batch_store.EVENTS, numbered_by_the_database)
        to_rows = bulk.inserting(
            dialect, batch_store.NOTIFICATIONS, tuple(batch_store.NOTIFICATIONS.c.keys())
        )
        work = [
            bulk.Encoded(
                to_events, to_events.encode(batch_store.values(e, batch_store.EVENTS) for e in events)
            ),
            bulk.Encoded(
                to_rows, to_rows.encode(batch_store.values(r, batch_store.NOTIFICATIONS) for r in rows)
            ),
        ]
        if dialect.name != "postgresql":
            await bulk.execute(self._session, work)
            return
        # One statement each, from arrays: an executemany runs its statement
        # once per row, and for 1,000 steps that was most of a tick.
        connection = await self._session.connection()
        for encoded in work:
            if encoded.rows:
                keys = encoded.statement.keys
                table = batch_store.EVENTS if encoded.statement is to_events else batch_store.NOTIFICATIONS
                arrays = bulk.inserting_arrays(dialect, table, keys)
                await connection.exec_driver_sql(arrays.sql, bulk.as_arrays(encoded.rows, len(keys)))

    def _contact_rows(
        self, people: Iterable[Person], notes: list[str]
    ) -> tuple[list[outbox.PersonRow], list[dict[str, Any]]]:
        """A row per person and contact method that a channel delivers; the
        people reached, with how; a note for each method that cannot be."""
        rows: list[outbox.PersonRow] = []
        notified: list[dict[str, Any]] = []
        for user in people:
            via: list[dict[str, str]] = []
            for method in user.contact_methods or ():
                kind, address = str(method.get("type")), str(method.get("address") or "")
                channel = self._contacts.channel_for(kind)
                refused = (
                    self._contacts.why_not(kind) if channel is None else self._contacts.refusal(kind, address)
                )
                if channel is None or refused is not None:
                    notes.append(f"{user.name}'s {kind} contact: {refused}")
                    continue
                row = outbox.PersonRow(channel, user.id, address)
                if row not in rows:
                    rows.append(row)
                    via.append({"type": kind, "channel": channel})
            if via:
                notified.append({"user": user.name, "user_id": str(user.id), "via": via})
            else:
                notes.append(f"{user.name}: no contact method that a channel delivers")
        return rows, notified
