"""The one producer of outbox rows through the ORM: a row per channel, in
the caller's transaction (the one-statement ingest writes the same rows in
SQL, held to the same contract by tests/contract).

Which channels, and whether a silence holds them, is decided by the caller
(services/outbox.py); this module only writes what it is told.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from app.models import OutboxRow


def rows(
    *,
    alert_id: uuid.UUID | None,
    channels: Iterable[str],
    reason: str,
    level: int,
    now: datetime,
    silence_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    recipient: str | None = None,
) -> list[OutboxRow]:
    """A row per channel; with `recipient`, each to that person's address
    (`user_id`) instead of the channel's own recipients."""
    return [
        OutboxRow(
            id=uuid.uuid4(),
            alert_id=alert_id,
            channel=name,
            reason=reason,
            level=level,
            status="silenced" if silence_id else "pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            silence_id=silence_id,
            user_id=user_id,
            recipient=recipient,
        )
        for name in channels
    ]
