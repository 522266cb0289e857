"""Submit an alert: the rules decide (services/decisions.py), a store writes.

`submit` goes through the application's store, whichever it is (one
statement on PostgreSQL, the ORM on SQLite); `submit_in` writes in a
transaction the caller owns (a PagerDuty event with what else it does).
Many submissions that must commit or fail as one are a batch
(services/batch.py). `team` is the submitting key's: the alert's owner, and half
of its identity.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import orm_store
from app.db.store import Ingested, Store
from app.schemas import AlertCreate
from app.services import silence_match
from app.services.decisions import plan
from app.settings import Settings


async def submit(
    store: Store, *, data: AlertCreate, team: str, settings: Settings, now: datetime
) -> Ingested:
    return await store.ingest(plan(data, team=team, settings=settings, now=now))


async def submit_in(
    session: AsyncSession, *, data: AlertCreate, team: str, settings: Settings, now: datetime
) -> Ingested:
    made = plan(data, team=team, settings=settings, now=now)
    return await orm_store.ingest(session, made, hold=silence_match.held_by)
