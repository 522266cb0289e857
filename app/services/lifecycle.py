"""The alert state machine: which moves are allowed, and what each one records."""

from __future__ import annotations

from datetime import datetime

from app.errors import Conflict
from app.models import ACTIVE_STATUSES, Alert

ALLOWED_MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "in_progress", "resolved", "closed"}),
    "reopened": frozenset({"acknowledged", "in_progress", "resolved", "closed"}),
    "acknowledged": frozenset({"in_progress", "resolved", "closed"}),
    "in_progress": frozenset({"resolved", "closed"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
}


def check_move(current: str, target: str) -> None:
    if target not in ALLOWED_MOVES.get(current, frozenset()):
        allowed = ", ".join(sorted(ALLOWED_MOVES.get(current, ()))) or "none"
        raise Conflict(
            f"cannot move alert from {current} to {target} (allowed from {current}: {allowed})",
            field="status",
        )


def apply_move(alert: Alert, *, target: str, by: str | None, note: str | None, now: datetime) -> None:
    """Set the fields that a move implies; the caller has checked the move."""
    alert.status = target
    if target == "acknowledged" or (target == "in_progress" and alert.acknowledged_at is None):
        # Starting work is an acknowledgement too: it stops escalation.
        alert.acknowledged_at, alert.acknowledged_by = now, by
        alert.acknowledge_minutes = (now - alert.triggered_at).total_seconds() / 60.0
    elif target == "resolved":
        alert.resolved_at, alert.resolved_by, alert.resolution_notes = now, by, note
        alert.resolution_minutes = (now - alert.triggered_at).total_seconds() / 60.0
    elif target == "closed":
        alert.closed_at = now
    elif target == "reopened":
        reopen(alert, now=now)


def reopen(alert: Alert, *, now: datetime) -> None:
    """Back to active with a fresh escalation clock; the history keeps the past."""
    alert.status = "reopened"
    alert.triggered_at = now
    alert.escalation_level = 1
    alert.acknowledged_at = alert.acknowledged_by = alert.acknowledge_minutes = None
    alert.resolved_at = alert.resolved_by = alert.resolution_notes = None
    alert.resolution_minutes = None
    alert.closed_at = None
    alert.suppressed_streak = 0


def is_active(status: str) -> bool:
    return status in ACTIVE_STATUSES
