"""The integration routes on PostgreSQL whose database session ends mid-transaction.

An Alertmanager notification (the batch path) and a PagerDuty event each run
their transaction again once when its connection was lost before COMMIT
(db/transaction.py), and are applied once. The fault is real: the test holds
a lock the request's transaction waits for, and ends that session with
pg_terminate_backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest

from tests.conftest import Service
from tests.integrations.test_alertmanager import URL as ALERTMANAGER
from tests.integrations.test_alertmanager import am_alert, payload
from tests.integrations.test_pagerduty import URL as PAGERDUTY
from tests.integrations.test_pagerduty import event
from tests.outages import lock_waiter

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def status_moves(svc: Service, alert_id: str) -> list[tuple[str | None, str | None]]:
    detail = (await svc.client.get(f"/alerts/{alert_id}")).json()
    return [(e["from_status"], e["to_status"]) for e in detail["history"] if e["kind"] == "status"]


async def test_an_alertmanager_notification_whose_session_ends_is_run_again_once(
    service: Service, admin: asyncpg.Connection, holder: asyncpg.Connection, retries: Callable[[], int]
) -> None:
    fired = await service.client.post(ALERTMANAGER, json=payload(am_alert()))
    alert_id = fired.json()["results"][0]["alert_id"]
    other = am_alert(alertname="Other")
    other["fingerprint"] = "other"
    async with holder.transaction():
        await holder.execute("SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE", alert_id)
        request = asyncio.create_task(
            service.client.post(ALERTMANAGER, json=payload(am_alert("resolved"), other, status="resolved"))
        )
        first = await lock_waiter(admin)  # the write transaction, locking what it read
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        await lock_waiter(admin, not_pid=first)  # run again, on a new connection
    response = await request
    assert response.status_code == 200, response.text
    assert [r["outcome"] for r in response.json()["results"]] == ["resolved", "created"]
    assert await status_moves(service, alert_id) == [("open", "resolved")]
    assert await admin.fetchval("SELECT count(*) FROM alerts WHERE fingerprint = 'other'") == 1
    assert retries() == 1


async def test_a_pagerduty_event_whose_session_ends_is_run_again_once(
    service: Service, admin: asyncpg.Connection, holder: asyncpg.Connection, retries: Callable[[], int]
) -> None:
    assert (await service.client.post(PAGERDUTY, json=event())).status_code == 202
    alert_id = (await service.client.get("/alerts")).json()["items"][0]["id"]
    async with holder.transaction():
        await holder.execute("SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE", alert_id)
        request = asyncio.create_task(service.client.post(PAGERDUTY, json=event("acknowledge")))
        first = await lock_waiter(admin)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        await lock_waiter(admin, not_pid=first)
    response = await request
    assert response.status_code == 202, response.text
    assert await status_moves(service, alert_id) == [("open", "acknowledged")]
    assert retries() == 1
