"""What a submission does to an alert, given the rules' answers: the ORM
stores' one implementation of it, with no session and no I/O.

Each function changes (or makes) an `Alert` and returns the history events
that go with the change; `notices` makes the outbox rows. The one-alert
store (db/orm_store.py) adds them to its session; a batch
(services/batch.py) replays a whole batch through them in memory and writes
the outcome with bulk statements. The statement paths (db/pg_ingest.py,
db/sqlite_ingest.py) write the same in SQL, held to the same contract by
tests/contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from app.db import history, outbox
from app.db.store import IngestPlan, next_escalation_at
from app.models import Alert, AlertEvent, OutboxRow


def _constructed(values: dict[str, Any]) -> Alert:
    return Alert(**values)


def created(
    plan: IngestPlan, *, deduplicated: bool, build: Callable[[dict[str, Any]], Alert] = _constructed
) -> tuple[Alert, list[AlertEvent]]:
    """A new alert of the submission. `build` makes the object from its
    column values: by default as any new ORM object, to be added to a
    session; a batch, which writes its rows itself, makes it cheaper
    (db/batch_store.py `detached`)."""
    now = plan.now
    alert = build(
        dict(
            id=plan.id,
            team=plan.team,
            fingerprint=plan.fingerprint,
            alert_type=plan.alert_type,
            severity=plan.severity,
            message=plan.message,
            source=plan.source,
            labels=plan.labels,
            details=plan.details,
            channels=plan.channels,
            status="open",
            escalation_level=1,
            max_escalation_level=1,
            occurrences=1,
            suppressed_count=0,
            suppressed_streak=0,
            notifications_sent=0,
            first_seen_at=now,
            last_seen_at=now,
            triggered_at=now,
            policy=plan.decisions.policy,
            deduplicated=deduplicated,
            last_notify_reason="new",
            next_escalation_at=plan.next_escalation_at,
            escalation_policy_id=plan.escalation_policy_id,
            escalation_step=0,
        )
    )
    return alert, [history.event(alert.id, kind="created", at=now, actor=plan.source, to_status="open")]


def _take_newest(alert: Alert, plan: IngestPlan) -> None:
    alert.occurrences += 1
    alert.last_seen_at = plan.now
    alert.message = plan.message
    alert.details = plan.details
    alert.channels = plan.channels


def merged(alert: Alert, plan: IngestPlan) -> list[AlertEvent]:
    """A duplicate of the active `alert`: suppressed, or notified with the reason the rules give."""
    decisions = plan.decisions
    decided = decisions.duplicate_outcome(
        plan.severity,
        alert.severity,
        window_passed=alert.last_seen_at <= plan.now - decisions.window,
        threshold_reached=alert.suppressed_streak >= decisions.streak_limit,
    )
    _take_newest(alert, plan)
    alert.last_notify_reason = decided.reason
    if decided.reason is None:
        alert.suppressed_count += 1
        alert.suppressed_streak += 1
    else:
        alert.suppressed_streak = 0
    events = []
    if decided.raised:
        alert.severity = decided.severity
        if alert.escalation_policy_id is None:  # a policy's steps do not depend on the severity
            alert.next_escalation_at = next_escalation_at(
                decisions.reschedule[
                    decisions.reschedule_index(alert.severity, alert.status, alert.escalation_level)
                ],
                triggered_at=alert.triggered_at,
                escalated_at=alert.escalated_at,
            )
        events.append(
            history.event(
                alert.id, kind="severity_raised", at=plan.now, actor=plan.source, severity=alert.severity
            )
        )
    if decided.reason is not None:
        events.append(
            history.event(
                alert.id, kind="notified", at=plan.now, reason=decided.reason, occurrences=alert.occurrences
            )
        )
    return events


def ended_within_window(alert: Alert, plan: IngestPlan) -> bool:
    """A resolved or closed alert that a new submission reopens rather than replaces."""
    ended_at = alert.resolved_at or alert.closed_at
    return ended_at is not None and ended_at > plan.now - plan.decisions.window


def reopened(alert: Alert, plan: IngestPlan) -> list[AlertEvent]:
    """The ended `alert` back to active: it recurred within the window."""
    previous = alert.status
    alert.reopen(now=plan.now)
    _take_newest(alert, plan)
    alert.severity = plan.severity
    alert.last_notify_reason = "reopened"
    alert.next_escalation_at = plan.next_escalation_at
    # Routed again, as a new alert: its route may have changed meanwhile.
    alert.escalation_policy_id = plan.escalation_policy_id
    alert.escalation_step = 0
    return [
        history.event(
            alert.id,
            kind="status",
            at=plan.now,
            actor=plan.source,
            from_status=previous,
            to_status="reopened",
            note="recurred within the dedup window",
        )
    ]


def notices(alert: Alert, plan: IngestPlan, silenced_by: list[uuid.UUID]) -> tuple[list[OutboxRow], int]:
    """The outbox rows of the submission that just changed `alert`, and how
    many of them go out (rows a silence holds are recorded, not queued)."""
    reason = alert.last_notify_reason
    if reason is None or not plan.notify:
        return [], 0
    rows = outbox.rows(
        alert_id=alert.id,
        channels=plan.notify,
        reason=reason,
        level=alert.escalation_level,
        now=plan.now,
        silence_id=silenced_by[0] if silenced_by else None,
    )
    return rows, 0 if silenced_by else len(rows)
