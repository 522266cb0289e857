"""Drive each store implementation through the same steps and read back
everything a user can observe: the answers, the alerts, their history and
their outbox rows, with ids replaced by the order of first appearance."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.db import orm_store, pg_ingest
from app.db.engine import create_engine, create_sessionmaker
from app.db.pg_store import PgStore
from app.db.store import Ingested, Store
from app.models import Alert, AlertEvent, OutboxRow
from app.schemas import AlertCreate, SilenceCreate
from app.services import escalation, lifecycle, silence_match, silences, submit
from app.settings import Settings, load_settings
from tests.conftest import truncate

# (implementation, database): the ORM store on both databases, the
# one-statement store on PostgreSQL.
KINDS = (("orm", "sqlite"), ("orm", "postgresql"), ("pg", "postgresql"))
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WEBHOOK = {"type": "webhook", "url": "http://127.0.0.1:9/never-called"}


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "alert_type": "disk_full",
        "severity": "medium",
        "message": "/var is 91% full",
        "source": "db-1",
        "labels": {"mount": "/var", "env": "prod"},
        "details": {"used_pct": 91},
    }
    return data | overrides


@dataclass
class Driver:
    """One implementation under test, with the clock in the test's hands."""

    store: Store
    settings: Settings
    sessionmaker: Any
    minutes: float = 0.0
    ids: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return START + timedelta(minutes=self.minutes)

    def at(self, minutes: float) -> Driver:
        self.minutes = minutes
        return self

    def name(self, alert_id: uuid.UUID | str) -> str:
        key = uuid.UUID(str(alert_id))
        return self.ids.setdefault(key, f"alert-{len(self.ids) + 1}")

    async def submit(self, *, team: str = "default", **overrides: Any) -> dict[str, Any]:
        data = AlertCreate.model_validate(body(**overrides))
        done = await submit.submit(self.store, data=data, team=team, settings=self.settings, now=self.now)
        return self.answer(done)

    async def submit_many(self, count: int, **overrides: Any) -> list[dict[str, Any]]:
        data = AlertCreate.model_validate(body(**overrides))
        done = await asyncio.gather(
            *(
                submit.submit(self.store, data=data, team="default", settings=self.settings, now=self.now)
                for _ in range(count)
            )
        )
        return [self.answer(one) for one in done]

    def answer(self, done: Ingested) -> dict[str, Any]:
        alert = {k: v for k, v in done.alert.items() if k != "id"}
        return {
            "alert": self.name(done.alert["id"]),
            "outcome": done.outcome,
            "reason": done.reason,
            "notified": done.queued > 0,
            "silenced": bool(done.silenced_by),
            "fields": alert,
        }

    async def move(self, alert: str, status: str) -> None:
        alert_id = next(key for key, value in self.ids.items() if value == alert)
        async with self.sessionmaker() as session, session.begin():
            await lifecycle.change_status(
                session,
                alert_id=alert_id,
                status=status,
                by="alice",
                note=None,
                settings=self.settings,
                now=self.now,
            )

    async def silence(self, *, minutes: float, **matcher: Any) -> None:
        data = SilenceCreate.model_validate(
            {
                "matchers": [matcher],
                "duration_minutes": minutes,
                "created_by": "alice",
                "comment": "maintenance",
            }
        )
        async with self.sessionmaker() as session, session.begin():
            await silences.create(session, data=data, team=None, settings=self.settings, now=self.now)

    async def tick(self) -> None:
        async with self.sessionmaker() as session, session.begin():
            await escalation.escalate_due(session, now=self.now, settings=self.settings)

    async def snapshot(self) -> dict[str, Any]:
        """Every alert, event and outbox row, in a stable order."""
        async with self.sessionmaker() as session:
            alerts = list(
                await session.scalars(select(Alert).order_by(Alert.first_seen_at, Alert.fingerprint))
            )
            for alert in alerts:
                self.name(alert.id)
            events = list(await session.scalars(select(AlertEvent).order_by(AlertEvent.id)))
            rows = list(await session.scalars(select(OutboxRow)))
        return {
            "alerts": sorted(
                (
                    {c.name: getattr(a, c.key) for c in Alert.__table__.columns if c.name != "id"}
                    | {"name": self.name(a.id)}
                    for a in alerts
                ),
                key=lambda a: a["name"],
            ),
            # Events per alert in the order written; alerts in name order.
            "events": sorted(
                (
                    (
                        self.name(e.alert_id),
                        i,
                        e.kind,
                        e.actor,
                        e.from_status,
                        e.to_status,
                        e.note,
                        e.data,
                        e.at,
                    )
                    for i, e in enumerate(events)
                ),
                key=lambda e: (e[0], e[1]),
            ),
            "outbox": sorted(
                (
                    self.name(r.alert_id) if r.alert_id else "",  # "": a test, a digest
                    r.channel,
                    r.reason,
                    r.level,
                    r.status,
                    r.created_at,
                )
                for r in rows
            ),
        }


def events_without_order(snapshot: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Events per alert in order, without the global write order (which
    differs between a batch statement and separate transactions)."""
    return [e[:1] + e[2:] for e in snapshot["events"]]


@asynccontextmanager
async def driver(kind: tuple[str, str], url: str, **overrides: Any) -> AsyncIterator[Driver]:
    implementation, _ = kind
    await truncate(url)
    settings = load_settings(database_url=url, **overrides)
    engine = create_engine(url, pool_size=5)
    sessionmaker = create_sessionmaker(engine)
    general = orm_store.OrmStore(sessionmaker, hold=silence_match.held_by)
    store: Store = general
    if implementation == "pg":
        pool = await pg_ingest.create_pool(settings, size=5)
        store = PgStore(pool, general, in_flight=2)
    try:
        yield Driver(store, settings, sessionmaker)
    finally:
        await store.close()
        await engine.dispose()
