"""Group commit, on both databases: simultaneous submissions share writes
(one statement on PostgreSQL, one transaction on SQLite), and every
submission that was answered is in the database as answered."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select

from app.db import pg_ingest, pg_store, sqlite_ingest
from app.models import Alert, AlertEvent
from app.schemas import AlertCreate
from app.services.decisions import decisions, plan
from tests.api.test_metrics import scrape, value
from tests.conftest import THROUGH_PGBOUNCER, ServiceFactory
from tests.helpers import alert_body

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)


async def _stored(svc: Any) -> dict[str, tuple[int, int]]:
    """Alert id -> (occurrences, created events)."""
    async with svc.app.state.sessionmaker() as session:
        alerts = {row[0]: row[1] for row in await session.execute(select(Alert.id, Alert.occurrences))}
        created_events = select(AlertEvent.alert_id, func.count()).where(AlertEvent.kind == "created")
        created = {
            row[0]: row[1] for row in await session.execute(created_events.group_by(AlertEvent.alert_id))
        }
    return {str(alert_id): (n, created.get(alert_id, 0)) for alert_id, n in alerts.items()}


async def test_every_answered_submission_is_stored_as_answered(service_factory: ServiceFactory) -> None:
    async with service_factory() as svc:
        before = await scrape(svc)
        bodies = [alert_body(source=f"host-{n % 30}", message=f"m{n}") for n in range(300)]
        responses = await asyncio.gather(*(svc.client.post("/alerts", json=body) for body in bodies))
        after = await scrape(svc)

        assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses[:3]]
        answered = Counter(r.json()["id"] for r in responses)
        created = Counter(r.json()["id"] for r in responses if r.status_code == 201)
        stored = await _stored(svc)
        assert len(stored) == 30
        assert {alert_id: n for alert_id, (n, _) in stored.items()} == dict(answered)
        assert all(created[alert_id] == 1 == events for alert_id, (_, events) in stored.items())
        # Fewer statements than submissions: they were grouped.
        statements = value(after, "alerts_ingest_batch_size_count") - value(
            before, "alerts_ingest_batch_size_count"
        )
        grouped = value(after, "alerts_ingest_batch_size_sum") - value(before, "alerts_ingest_batch_size_sum")
        assert grouped == 300
        assert statements < 300


async def test_a_batch_with_an_alert_to_reopen_writes_the_others(service_factory: ServiceFactory) -> None:
    async with service_factory() as svc:
        first = (await svc.client.post("/alerts", json=alert_body(source="flappy"))).json()
        await svc.client.patch(f"/alerts/{first['id']}/resolve", json={"resolved_by": "ops"})
        responses = await asyncio.gather(
            *(svc.client.post("/alerts", json=alert_body(source=s)) for s in ("flappy", "a", "b", "c"))
        )
        outcomes = {r.json()["source"]: r.json()["outcome"] for r in responses}
        assert outcomes == {"flappy": "reopened", "a": "created", "b": "created", "c": "created"}
        assert responses[0].json()["id"] == first["id"]


async def test_a_failed_batch_is_written_again_one_by_one(
    service_factory: ServiceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deadlock with another writer cannot be caused on demand: the first
    # write of several submissions fails as one would.
    failed: list[int] = []

    def failing_once(real: Any) -> Any:
        async def write(where: Any, plans: Any, **options: Any) -> Any:
            if len(plans) > 1 and not failed:
                failed.append(len(plans))
                raise asyncpg.DeadlockDetectedError("deadlock detected")
            return await real(where, plans, **options)

        return write

    def failing_once_on_its_thread(real: Any) -> Any:
        def write(connection: Any, plans: Any) -> Any:
            if len(plans) > 1 and not failed:
                failed.append(len(plans))
                raise sqlite3.IntegrityError("a row refused")
            return real(connection, plans)

        return write

    async with service_factory() as svc:
        if svc.settings.is_sqlite:
            monkeypatch.setattr(
                sqlite_ingest, "write_group", failing_once_on_its_thread(sqlite_ingest.write_group)
            )
        else:
            monkeypatch.setattr(pg_store.pg_ingest, "upsert_many", failing_once(pg_ingest.upsert_many))
        responses = await asyncio.gather(
            *(svc.client.post("/alerts", json=alert_body(source=f"h{n}")) for n in range(20))
        )
        assert failed, "no statement carried more than one submission"
        assert [r.status_code for r in responses] == [201] * 20
        assert len(await _stored(svc)) == 20


async def test_a_burst_of_one_alert_longer_than_the_queue_scan_is_all_counted(
    service_factory: ServiceFactory,
) -> None:
    async with service_factory() as svc:
        # 300 duplicates of one alert and a few others behind them.
        bodies = [alert_body() for _ in range(300)] + [alert_body(source=f"other-{n}") for n in range(5)]
        responses = await asyncio.gather(*(svc.client.post("/alerts", json=body) for body in bodies))
        assert all(r.status_code in (200, 201) for r in responses)
        stored = await _stored(svc)
        assert sorted(n for n, _ in stored.values()) == [1, 1, 1, 1, 1, 300]


@pytest.mark.parametrize("database_url", ["postgresql", THROUGH_PGBOUNCER], indirect=True)
async def test_the_statements_are_planned_once_per_connection(service_factory: ServiceFactory) -> None:
    """Generic plans: with custom ones PostgreSQL planned the ingest statement
    at every execution, and planning cost more than running it. Behind
    PgBouncer no statement may stay prepared on a server connection
    (db/pooler.py): it is parsed and planned with each execution."""
    async with service_factory() as svc:
        pool: asyncpg.Pool = svc.app.state.store.pool
        # One transaction: one server connection, behind PgBouncer too.
        async with pool.acquire() as connection, connection.transaction():
            mode = await connection.fetchval("SHOW plan_cache_mode")
            for n in range(7):  # past the five runs after which PostgreSQL weighs custom plans
                data = AlertCreate(alert_type="plan", severity="low", message="m", source=f"plan-{n % 2}")
                pending = plan(data, team="default", settings=svc.settings, now=svc.clock.now)
                await connection.fetch(
                    pg_ingest.statement(pending.decisions), *pg_ingest.arguments([pending])
                )
            prepared = await connection.fetch(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
                pg_ingest.statement(decisions(svc.settings)),
            )
    if svc.settings.database_pooler == "pgbouncer":
        assert prepared == [] and mode == "auto"
        return
    assert mode == "force_generic_plan"
    [plans] = prepared
    assert plans["custom_plans"] == 0 and plans["generic_plans"] >= 1, dict(plans)
