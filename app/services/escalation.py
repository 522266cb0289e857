"""Escalation: when an alert is next due, and (later) one tick of the ticker.

Each active, unacknowledged alert stores `next_escalation_at`, the earliest
moment a rule could change it: the next level's `after_minutes` since
`triggered_at`, or the current level's repeat. The ticker only reads alerts
whose time has come (an indexed range), never every alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.models import Alert
from app.settings import EscalationPolicy, EscalationRule

ESCALATING_STATUSES = frozenset({"open", "reopened"})


def matching_rules(policy: EscalationPolicy, severity: str) -> list[EscalationRule]:
    return [rule for rule in policy.rules if severity in rule.severities]


def repeat_rule(policy: EscalationPolicy, *, level: int, severity: str) -> EscalationRule | None:
    """The rule that reached this level for this severity and repeats there."""
    for rule in matching_rules(policy, severity):
        if rule.level == level and rule.repeat_every_minutes is not None:
            return rule
    return None


def schedule(alert: Alert, policy: EscalationPolicy, *, now: datetime) -> None:
    """Set alert.next_escalation_at from its state and the policy."""
    if alert.status not in ESCALATING_STATUSES:
        alert.next_escalation_at = None
        return
    due: list[datetime] = [
        alert.triggered_at + timedelta(minutes=rule.after_minutes)
        for rule in matching_rules(policy, alert.severity)
        if rule.level > alert.escalation_level
    ]
    repeat = repeat_rule(policy, level=alert.escalation_level, severity=alert.severity)
    if repeat is not None and repeat.repeat_every_minutes is not None:
        since = alert.escalated_at or alert.triggered_at
        due.append(since + timedelta(minutes=repeat.repeat_every_minutes))
    alert.next_escalation_at = min(due) if due else None
