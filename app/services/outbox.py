"""Queue notifications in the outbox, inside the caller's transaction.

A row here is the promise that a notification will be delivered: it commits
with the alert change that caused it, or not at all. The delivery worker
sends it later; nothing on the request path touches the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Alert, Notification
from app.settings import Settings

REASONS = ("new", "repeated", "window", "severity", "reopened", "escalation", "repeat", "resolved", "test")


def route(alert: Alert, settings: Settings, *, reason: str, extra: Iterable[str] = ()) -> list[str]:
    """The channels a notification goes to: the alert's own (or the defaults),
    plus any extra ones (an escalation level's), each once, in order."""
    names = dict.fromkeys([*(alert.channels or settings.default_channels), *extra])
    chosen = [name for name in names if name in settings.channels]
    if reason == "resolved":
        chosen = [name for name in chosen if settings.channels[name].send_resolved]
    return chosen


async def queue(
    session: AsyncSession,
    *,
    alert: Alert,
    reason: str,
    settings: Settings,
    now: datetime,
    level: int | None = None,
    extra_channels: Iterable[str] = (),
) -> list[Notification]:
    if not settings.enabled:
        return []
    rows = [
        Notification(
            id=uuid.uuid4(),
            alert_id=alert.id,
            channel=name,
            reason=reason,
            level=level or alert.escalation_level,
            status="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        for name in route(alert, settings, reason=reason, extra=extra_channels)
    ]
    session.add_all(rows)
    return rows


async def queue_test(session: AsyncSession, *, channel: str, now: datetime) -> Notification:
    row = Notification(
        id=uuid.uuid4(),
        alert_id=None,
        channel=channel,
        reason="test",
        level=1,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    return row
