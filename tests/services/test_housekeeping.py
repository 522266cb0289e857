"""Housekeeping: auto-close and retention, by age, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.models import AlertEvent, OutboxRow
from app.services import housekeeping
from tests.conftest import Service
from tests.helpers import create_alert, move, wait_for


async def test_resolved_alerts_close_and_closed_alerts_go(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(auto_close_hours=24, retention_days=2) as svc:
        t0 = svc.clock.now
        old_resolved = await create_alert(svc.client, source="a")
        old_closed = await create_alert(svc.client, source="b")
        await move(svc.client, old_resolved["id"], "resolved")
        await move(svc.client, old_closed["id"], "closed")
        svc.clock.now = t0 + timedelta(hours=20)
        young_resolved = await create_alert(svc.client, source="c")
        await move(svc.client, young_resolved["id"], "resolved")
        svc.clock.now = t0 + timedelta(hours=30)
        young_closed = await create_alert(svc.client, source="d")
        await move(svc.client, young_closed["id"], "closed")
        active = await create_alert(svc.client, source="e")

        svc.clock.now = t0 + timedelta(hours=49)
        closed, deleted = await housekeeping.run(
            svc.app.state.sessionmaker, settings=svc.settings, now=svc.clock.now
        )
        assert (closed, deleted) == (2, 1)  # a and c closed; b deleted

        async def status(alert: dict) -> object:  # type: ignore[type-arg]
            response = await svc.client.get(f"/alerts/{alert['id']}")
            return response.json()["status"] if response.status_code == 200 else response.status_code

        assert await status(old_closed) == 404
        assert await status(old_resolved) == "closed" and await status(young_resolved) == "closed"
        assert await status(young_closed) == "closed" and await status(active) == "open"
        history = (await svc.client.get(f"/alerts/{old_resolved['id']}")).json()["history"]
        assert history[-1]["actor"] == "housekeeping" and history[-1]["to_status"] == "closed"
        async with svc.app.state.sessionmaker() as session:
            orphans = await session.scalar(
                select(func.count())
                .select_from(AlertEvent)
                .where(AlertEvent.alert_id == uuid.UUID(old_closed["id"]))
            )
            orphan_rows = await session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.alert_id == uuid.UUID(old_closed["id"]))
            )
        assert orphans == 0 and orphan_rows == 0


async def test_housekeeping_is_off_unless_configured(service: Service) -> None:
    alert = await create_alert(service.client)
    await move(service.client, alert["id"], "resolved")
    later = service.clock.now + timedelta(days=365)
    assert await housekeeping.run(service.app.state.sessionmaker, settings=service.settings, now=later) == (
        0,
        0,
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_replicas_close_each_alert_once(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(auto_close_hours=1) as svc:
        for i in range(30):
            alert = await create_alert(svc.client, source=f"h{i}")
            await move(svc.client, alert["id"], "resolved")

        async def delivered() -> bool:
            return all(c["pending"] == 0 for c in (await svc.client.get("/channels")).json())

        # Recording a delivery locks its alert row for a moment, and a pass
        # skips locked rows (the next pass takes them): let deliveries settle
        # so that this one pass has every alert to itself.
        await wait_for(delivered)
        later = svc.clock.now + timedelta(hours=2)
        results = await asyncio.gather(
            *(
                housekeeping.run(svc.app.state.sessionmaker, settings=svc.settings, now=later)
                for _ in range(3)
            )
        )
        assert sum(closed for closed, _ in results) == 30
        async with svc.app.state.sessionmaker() as session:
            events = await session.scalar(
                select(func.count()).select_from(AlertEvent).where(AlertEvent.actor == "housekeeping")
            )
        assert events == 30
