"""Escalation: when an alert is next due, and one tick of the ticker.

Each active, unacknowledged alert stores `next_escalation_at`, the earliest
moment a rule could change it: the next level's `after_minutes` since
`triggered_at`, or the current level's repeat. The ticker only reads alerts
whose time has come (an indexed range), never every alert.

Two kinds of policy: the configured [escalation] rules (this module), and
a team's stored policy that a route gave the alert (`escalation_policy_id`;
its steps are services/oncall/paging.py's). `schedule_by` / `reschedule`
pick the right one wherever an alert's state changes; an alert whose policy
was deleted (the reference is set to NULL) falls back to the rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import batch_store, bulk, history
from app.db.store import Ingested, next_escalation_at
from app.models import Alert, EscalationDue
from app.services import outbox
from app.services.oncall import policy_steps
from app.services.oncall.paging import Paging, load_policy
from app.settings import EscalationPolicy, EscalationRule, Settings

ESCALATING_STATUSES = ("open", "reopened")
TICK_BATCH = 500
# A submission whose alert is due at once wakes the ticker this long after:
# a burst of such submissions shares one tick (each tick reads every due
# alert), and the first page goes out within this of the alert, not up to
# `escalation_interval_seconds` later.
WAKE_DELAY = 0.1


def matching_rules(policy: EscalationPolicy, severity: str) -> list[EscalationRule]:
    return [rule for rule in policy.rules if severity in rule.severities]


def repeat_interval(policy: EscalationPolicy, *, level: int, severity: str) -> timedelta | None:
    """How often an alert at this level and severity is re-notified, if at all."""
    for rule in matching_rules(policy, severity):
        if rule.level == level and rule.repeat_every_minutes is not None:
            return timedelta(minutes=rule.repeat_every_minutes)
    return None


def due_offsets(
    policy: EscalationPolicy, *, status: str, severity: str, level: int
) -> tuple[float | None, float | None]:
    """Minutes from triggered_at to the next level's rule, and minutes
    between repeats at this level; None where no rule applies."""
    if status not in ESCALATING_STATUSES:
        return None, None
    offsets = level_offsets(policy, severity=severity, above=level)
    repeat = repeat_interval(policy, level=level, severity=severity)
    return (
        min(offsets).total_seconds() / 60.0 if offsets else None,
        None if repeat is None else repeat.total_seconds() / 60.0,
    )


def next_due(
    policy: EscalationPolicy,
    *,
    status: str,
    severity: str,
    level: int,
    triggered_at: datetime,
    escalated_at: datetime | None,
) -> datetime | None:
    """The earliest moment a rule could change an alert in this state."""
    return next_escalation_at(
        due_offsets(policy, status=status, severity=severity, level=level),
        triggered_at=triggered_at,
        escalated_at=escalated_at,
    )


def level_offsets(policy: EscalationPolicy, *, severity: str, above: int) -> list[timedelta]:
    """How long after triggered_at each higher level's rule matures."""
    return [
        timedelta(minutes=rule.after_minutes)
        for rule in matching_rules(policy, severity)
        if rule.level > above
    ]


def schedule(alert: Alert, policy: EscalationPolicy, *, now: datetime) -> None:
    """Set alert.next_escalation_at from its state and the policy."""
    alert.next_escalation_at = next_due(
        policy,
        status=alert.status,
        severity=alert.severity,
        level=alert.escalation_level,
        triggered_at=alert.triggered_at,
        escalated_at=alert.escalated_at,
    )


def schedule_by(alert: Alert, *, settings: Settings, own: policy_steps.Policy | None, now: datetime) -> None:
    """Set alert.next_escalation_at by the alert's own policy (`own`, read by
    the caller: `reschedule` does) when it has one, else by the settings'.
    An alert that does not escalate (acknowledged, ended) needs no policy."""
    if alert.status not in ESCALATING_STATUSES:
        alert.next_escalation_at = None
    elif alert.escalation_policy_id is None:
        schedule(alert, settings.escalation, now=now)
    elif own is not None and own.id == alert.escalation_policy_id:
        alert.next_escalation_at = policy_steps.next_due(
            own, done=alert.escalation_step, triggered_at=alert.triggered_at, escalated_at=alert.escalated_at
        )
    else:
        raise ValueError(f"alert {alert.id} follows policy {alert.escalation_policy_id}: read it first")


async def reschedule(session: AsyncSession, alert: Alert, *, settings: Settings, now: datetime) -> None:
    """`schedule_by`, reading the alert's own policy when it needs one (one
    statement). A policy gone meanwhile: the settings' rules."""
    own = None
    if alert.status in ESCALATING_STATUSES and alert.escalation_policy_id is not None:
        own = await load_policy(session, alert.escalation_policy_id)
        if own is None:
            alert.escalation_policy_id = None
    schedule_by(alert, settings=settings, own=own, now=now)


def due_at_once(done: Ingested) -> bool:
    """Whether a submission created or reopened an alert whose escalation is
    due already (a policy whose first step is at 0 minutes): the ticker
    should run soon rather than at its next interval."""
    alert = done.alert
    due = alert.get("next_escalation_at")
    return done.outcome != "duplicate" and due is not None and due <= alert["triggered_at"]


@dataclass(frozen=True, slots=True)
class Step:
    alert_id: uuid.UUID
    kind: str  # "escalation" or "repeat"
    from_level: int
    to_level: int
    notifications: int


def due_level(policy: EscalationPolicy, alert: Alert, *, now: datetime) -> tuple[int, list[str]]:
    """The highest level whose rule matches and whose time has come, with the
    channels of that level's matching rules."""
    elapsed = now - alert.triggered_at
    reached = [
        rule
        for rule in matching_rules(policy, alert.severity)
        if elapsed >= timedelta(minutes=rule.after_minutes)
    ]
    if not reached:
        return 1, []
    level = max(rule.level for rule in reached)
    channels = [name for rule in reached if rule.level == level for name in rule.channels]
    return level, channels


def level_channels(policy: EscalationPolicy, *, level: int, severity: str) -> list[str]:
    return [
        name for rule in matching_rules(policy, severity) if rule.level == level for name in rule.channels
    ]


async def escalate_due(
    session: AsyncSession, *, now: datetime, settings: Settings, batch_size: int = TICK_BATCH
) -> list[Step]:
    """One tick: escalate or repeat every due alert, in batches.

    Due alerts are locked with FOR UPDATE on PostgreSQL. Not SKIP LOCKED:
    an alert under a burst of duplicates is locked most of the time by the
    merges, and skipping it would let exactly the noisiest alert starve. A
    replica ticking at the same moment waits for our commit instead, and
    PostgreSQL then re-checks its WHERE clause against the committed row,
    whose next_escalation_at has moved on: no step is done twice. The state
    change, its event and its notifications share this transaction, so a
    crash rolls all three back together.
    """
    policy = settings.escalation
    paging = Paging(session, settings=settings, now=now)
    steps: list[Step] = []
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        # Which alerts are due: a range of escalation_due's index, paged by
        # its key, so that a row whose alert turns out not to be due (a
        # replica escalated it meanwhile) is passed over, not read again.
        due = select(EscalationDue.due_at, EscalationDue.alert_id).where(EscalationDue.due_at <= now)
        if after is not None:
            due = due.where(tuple_(EscalationDue.due_at, EscalationDue.alert_id) > after)
        found = (
            await session.execute(
                due.order_by(EscalationDue.due_at, EscalationDue.alert_id).limit(batch_size)
            )
        ).all()
        if not found:
            return steps
        after = (found[-1].due_at, found[-1].alert_id)
        alerts = list(
            await session.scalars(
                select(Alert)
                .where(
                    Alert.id.in_([row.alert_id for row in found]),
                    # Checked on the row locked: PostgreSQL re-checks it
                    # after waiting for another ticker's commit.
                    Alert.next_escalation_at <= now,
                    Alert.status.in_(ESCALATING_STATUSES),
                )
                .order_by(Alert.next_escalation_at, Alert.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        await paging.prepare(alerts)
        with session.no_autoflush:  # the changes are written by _store, set-wise
            for alert in alerts:
                own = paging.policy_of(alert)
                if own is not None:
                    paged = await paging.escalate(alert, own)
                    steps += [
                        Step(alert.id, p.kind, p.from_level, p.to_level, p.notifications) for p in paged
                    ]
                    continue
                step = await _step(session, alert, paging=paging, policy=policy, settings=settings, now=now)
                if step is not None:
                    steps.append(step)
        await _store(session, alerts)
        await paging.write()
        if len(found) < batch_size:
            return steps


# What a step changes on an alert: the columns written back, the alerts of a
# batch in one statement. None of them is indexed, so on PostgreSQL the
# update stays on the row's page (a HOT update); escalation_due follows
# next_escalation_at by trigger (migration 0022).
STEP_COLUMNS = (
    "escalation_level", "max_escalation_level", "escalated_at", "next_escalation_at", "escalation_step",
)  # fmt: skip
_STORE_PG = (
    "UPDATE alerts SET escalation_level = v.escalation_level, "
    "max_escalation_level = v.max_escalation_level, escalated_at = v.escalated_at, "
    "next_escalation_at = v.next_escalation_at, escalation_step = v.escalation_step "
    "FROM unnest($1::uuid[], $2::int[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::int[]) "
    "AS v(id, escalation_level, max_escalation_level, escalated_at, next_escalation_at, escalation_step) "
    "WHERE alerts.id = v.id"
)


async def _store(session: AsyncSession, alerts: list[Alert]) -> None:
    """Write the batch's step columns: one UPDATE from arrays on PostgreSQL,
    one executemany on SQLite; the alerts leave the session (their state is
    the database's again), so no flush writes them a second time."""
    if not alerts:
        return
    dialect = session.get_bind().dialect
    connection = await session.connection()
    if dialect.name == "postgresql":
        columns = [[alert.id for alert in alerts]]
        columns += [[getattr(alert, name) for alert in alerts] for name in STEP_COLUMNS]
        await connection.exec_driver_sql(_STORE_PG, tuple(columns))
    else:
        statement = bulk.updating(dialect, batch_store.ALERTS, STEP_COLUMNS)
        rows = [
            {bulk.KEY: alert.id, **{name: getattr(alert, name) for name in STEP_COLUMNS}} for alert in alerts
        ]
        await connection.exec_driver_sql(statement.sql, statement.encode(rows))
    for alert in alerts:
        session.expunge(alert)


async def _step(
    session: AsyncSession,
    alert: Alert,
    *,
    paging: Paging,
    policy: EscalationPolicy,
    settings: Settings,
    now: datetime,
) -> Step | None:
    previous = alert.escalation_level
    target, channels = due_level(policy, alert, now=now)
    kind: str | None = None
    if target > previous:
        kind = "escalation"
        alert.escalation_level = target
        alert.max_escalation_level = max(alert.max_escalation_level, target)
    else:
        repeat = repeat_interval(policy, level=previous, severity=alert.severity)
        if repeat is not None and now - (alert.escalated_at or alert.triggered_at) >= repeat:
            kind = "repeat"
            channels = level_channels(policy, level=previous, severity=alert.severity)
    rows = []
    if kind is not None:
        alert.escalated_at = now
        event = history.event(
            alert.id,
            kind=kind,
            at=now,
            actor="escalation",
            from_level=previous,
            to_level=alert.escalation_level,
            policy=policy.name,
        )
        rows = await outbox.build(
            session, alert=alert, reason=kind, settings=settings, now=now, extra_channels=channels
        )
        paging.add(event, rows)  # written with the batch's, one statement each
    schedule(alert, policy, now=now)
    if kind is None:
        return None
    return Step(alert.id, kind, previous, alert.escalation_level, len(rows))
