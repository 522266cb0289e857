"""Identical submissions racing each other give one alert, on both databases."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Service
from tests.helpers import alert_body

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)


async def test_fifty_simultaneous_identical_submissions_make_one_alert(service: Service) -> None:
    responses = await asyncio.gather(*(service.client.post("/alerts", json=alert_body()) for _ in range(50)))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 1 and codes.count(200) == 49, codes
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    page = (await service.client.get("/alerts")).json()
    assert len(page["items"]) == 1
    alert = page["items"][0]
    assert alert["occurrences"] == 50
    # 49 duplicates: every 10th in a row notifies, the others are suppressed.
    assert alert["suppressed_count"] == 49 - 49 // 10


async def test_simultaneous_recurrences_of_a_resolved_alert_reopen_it_once(service: Service) -> None:
    created = (await service.client.post("/alerts", json=alert_body())).json()
    await service.client.patch(f"/alerts/{created['id']}/resolve", json={"resolved_by": "a"})
    responses = await asyncio.gather(*(service.client.post("/alerts", json=alert_body()) for _ in range(20)))
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["duplicate"] * 19 + ["reopened"]
    detail = (await service.client.get(f"/alerts/{created['id']}")).json()
    assert detail["occurrences"] == 21 and detail["status"] == "reopened"
