"""The one builder of history events, for every writer that goes through the
ORM (the one-statement ingest writes the same events in SQL, held to the
same contract by tests/contract)."""

from __future__ import annotations

import uuid
from datetime import datetime

from app.models import AlertEvent


def event(
    alert_id: uuid.UUID,
    *,
    kind: str,
    at: datetime,
    actor: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    **data: object,
) -> AlertEvent:
    return AlertEvent(
        alert_id=alert_id,
        at=at,
        kind=kind,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=data,
    )
