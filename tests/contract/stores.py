"""Drive each store implementation through the same steps and read back
everything a user can observe: the answers, the alerts, their history and
their outbox rows, with ids replaced by the order of first appearance."""

from __future__ import annotations

import asyncio
import functools
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
from app.db.sqlite_store import SqliteStore
from app.db.store import Ingested, Store
from app.models import Alert, AlertEvent, OutboxRow
from app.routing_schemas import PolicyCreate, RouteCreate
from app.schemas import AlertCreate, SilenceCreate
from app.services import batch, escalation, lifecycle, silence_match, silences, submit
from app.services.oncall import policies, routes, routing
from app.settings import Settings, load_settings
from tests.conftest import truncate

# (implementation, database): the ORM store on both databases, the
# statement stores of each (PostgreSQL's one statement per group, SQLite's
# upsert per submission in one transaction per group).
KINDS = (("orm", "sqlite"), ("orm", "postgresql"), ("pg", "postgresql"), ("statement", "sqlite"))
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
    routing: routing.Routing
    minutes: float = 0.0
    ids: dict[uuid.UUID, str] = field(default_factory=dict)
    policies: dict[uuid.UUID, str] = field(default_factory=dict)  # id -> name, as records show them

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

    def _policy(self, policy_id: Any) -> str | None:
        """A policy by its name: ids differ between implementations."""
        return None if policy_id is None else self.policies[uuid.UUID(str(policy_id))]

    def answer(self, done: Ingested) -> dict[str, Any]:
        alert = {k: v for k, v in done.alert.items() if k != "id"}
        alert["escalation_policy_id"] = self._policy(alert["escalation_policy_id"])
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

    async def policy(self, name: str, *, first_after: float = 0.0) -> None:
        """A policy of the default team notifying the console, its first step after `first_after` minutes."""
        data = PolicyCreate.model_validate(
            {"name": name, "steps": [{"after_minutes": first_after, "notify": ["console"]}]}
        )
        async with self.sessionmaker() as session, session.begin():
            made = await policies.create(
                session, data=data, team=None, home_team="default", settings=self.settings, now=self.now
            )
        self.policies[made.id] = name

    async def route(self, name: str, **fields: Any) -> None:
        """A route of the default team (RouteCreate's fields); the table is read again at once."""
        data = RouteCreate.model_validate({"name": name, **fields})
        async with self.sessionmaker() as session, session.begin():
            await routes.create(
                session, data=data, team=None, home_team="default", settings=self.settings, now=self.now
            )
        await self.routing.reload()

    async def unroute(self, name: str, *, reload: bool = True) -> None:
        """Delete a route; the table is read again unless told not to."""
        async with self.sessionmaker() as session, session.begin():
            found = await routes.list_routes(session, team="default", limit=100)
            [route] = [r for r in found if r.name == name]
            await routes.delete_route(session, route_id=route.id, team=None)
        if reload:
            await self.routing.reload()

    async def drop_policy(self, name: str) -> None:
        """Delete a policy behind the routing table's back (it is not read again)."""
        policy_id = next(key for key, value in self.policies.items() if value == name)
        async with self.sessionmaker() as session, session.begin():
            await policies.delete_policy(session, policy_id=policy_id, team=None)

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
                    | {"name": self.name(a.id), "escalation_policy_id": self._policy(a.escalation_policy_id)}
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
    elif implementation == "statement":
        store = SqliteStore(
            sessionmaker,
            hold=silence_match.held_by,
            write_together=functools.partial(batch.submit_together, sessionmaker, settings=settings),
        )
    # The routing table a process keeps (services/oncall/routing.py).
    table = routing.Routing(sessionmaker, settings)
    await table.reload()
    routing.install(table)
    try:
        yield Driver(store, settings, sessionmaker, table)
    finally:
        routing.uninstall(table)
        await store.close()
        await engine.dispose()
