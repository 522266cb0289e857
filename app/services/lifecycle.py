"""The alert state machine: which moves are allowed, what each one records,
and the moves themselves (acknowledge, resolve, any allowed status).

Every move made by a person, an integration or a Slack button comes here.
A move that acknowledges (to `acknowledged`, or to `in_progress` from an
unacknowledged alert) queues an `acknowledged` notice for the channels told
about the alert that mirror its state (services/outbox.py `follows_state`);
resolving queues `resolved` for every channel told; reopening notifies as a
new alert does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import history
from app.errors import Conflict, NotFound
from app.models import ACTIVE_STATUSES, Alert
from app.services import escalation, outbox
from app.settings import Settings

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
        alert.reopen(now=now)


def is_active(status: str) -> bool:
    return status in ACTIVE_STATUSES


async def _get_for_update(session: AsyncSession, alert_id: uuid.UUID, team: str | None) -> Alert:
    query = select(Alert).where(Alert.id == alert_id)
    if team is not None:  # another team's alert is not found: its id says nothing
        query = query.where(Alert.team == team)
    alert = await session.scalar(query.with_for_update().execution_options(populate_existing=True))
    if alert is None:
        raise NotFound(f"alert {alert_id} not found", field="id")
    return alert


async def change_status(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID,
    status: str,
    by: str,
    note: str | None,
    settings: Settings,
    now: datetime,
    team: str | None = None,
    origin: Mapping[str, str] | None = None,
) -> Alert:
    """`team`: the one team the caller may act on, None for any. `origin`:
    where the move came from, kept in its history event's data (an email
    link: {"via": "email_link", "channel": ...})."""
    alert = await _get_for_update(session, alert_id, team)
    previous = alert.status
    check_move(previous, status)
    acknowledges = alert.acknowledged_at is None and status in ("acknowledged", "in_progress")
    apply_move(alert, target=status, by=by, note=note, now=now)
    await escalation.reschedule(session, alert, settings=settings, now=now)
    session.add(
        history.event(
            alert.id,
            kind="status",
            at=now,
            actor=by,
            from_status=previous,
            to_status=status,
            note=note,
            **(origin or {}),
        )
    )
    if status == "resolved":
        told = await outbox.channels_told(session, alert_id=alert.id)
        await outbox.queue(
            session, alert=alert, reason=status, settings=settings, now=now, extra_channels=told
        )
    elif status == "reopened":
        await outbox.queue(session, alert=alert, reason=status, settings=settings, now=now)
    elif acknowledges:
        # The channels that mirror the alert's state (PagerDuty, Opsgenie, a
        # Slack app) acknowledge it too; the others are not told.
        told = await outbox.channels_told(session, alert_id=alert.id)
        await outbox.queue(
            session, alert=alert, reason="acknowledged", settings=settings, now=now, extra_channels=told
        )
    await session.flush()
    return alert


async def acknowledge(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID,
    by: str,
    note: str | None,
    settings: Settings,
    now: datetime,
) -> Alert:
    return await change_status(
        session, alert_id=alert_id, status="acknowledged", by=by, note=note, settings=settings, now=now
    )


async def resolve(
    session: AsyncSession,
    *,
    alert_id: uuid.UUID,
    resolved_by: str,
    notes: str | None,
    settings: Settings,
    now: datetime,
) -> Alert:
    return await change_status(
        session, alert_id=alert_id, status="resolved", by=resolved_by, note=notes, settings=settings, now=now
    )
