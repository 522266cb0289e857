"""Lifecycle moves over HTTP: what acknowledging and resolving record, bad
input, racing moves. Every ordered pair of statuses is in test_lifecycle_moves.py."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Service
from tests.helpers import create_alert


async def test_acknowledge_records_who_and_when(service: Service) -> None:
    alert = await create_alert(service.client)
    service.clock.advance(minutes=3)
    response = await service.client.patch(
        f"/alerts/{alert['id']}/acknowledge", json={"by": "alice", "note": "looking"}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "acknowledged" and data["acknowledged_by"] == "alice"
    assert data["acknowledged_at"] == service.clock.now.isoformat().replace("+00:00", "Z")
    assert data["next_escalation_at"] is None
    history = (await service.client.get(f"/alerts/{alert['id']}")).json()["history"]
    assert history[-1] | {"id": 0, "at": ""} == {
        "id": 0,
        "at": "",
        "kind": "status",
        "actor": "alice",
        "from_status": "open",
        "to_status": "acknowledged",
        "note": "looking",
        "data": {},
    }


async def test_resolve_records_resolution_minutes_from_trigger(service: Service) -> None:
    alert = await create_alert(service.client)
    service.clock.advance(minutes=42.5)
    response = await service.client.patch(
        f"/alerts/{alert['id']}/resolve", json={"resolved_by": "bob", "notes": "freed space"}
    )
    data = response.json()
    assert response.status_code == 200
    assert data["status"] == "resolved" and data["resolved_by"] == "bob"
    assert data["resolution_notes"] == "freed space"
    assert data["resolution_minutes"] == pytest.approx(42.5)


async def test_unknown_alert_is_404_and_bad_id_is_422(service: Service) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = await service.client.patch(f"/alerts/{missing}/acknowledge", json={"by": "a"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert (await service.client.get(f"/alerts/{missing}")).status_code == 404
    bad = await service.client.get("/alerts/not-a-uuid")
    assert bad.status_code == 422 and bad.json()["field"] == "alert_id"


async def test_unknown_status_and_missing_actor_are_422(service: Service) -> None:
    alert = await create_alert(service.client)
    response = await service.client.patch(
        f"/alerts/{alert['id']}/status", json={"status": "snoozed", "by": "a"}
    )
    assert response.status_code == 422 and response.json()["field"] == "status"
    response = await service.client.patch(f"/alerts/{alert['id']}/resolve", json={"notes": "x"})
    assert response.status_code == 422 and response.json()["field"] == "resolved_by"


async def test_simultaneous_resolves_give_one_resolution(service: Service) -> None:
    alert = await create_alert(service.client)
    service.clock.advance(minutes=1)
    responses = await asyncio.gather(
        *(
            service.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": f"user-{i}"})
            for i in range(10)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 9
    winner = next(r.json() for r in responses if r.status_code == 200)
    detail = (await service.client.get(f"/alerts/{alert['id']}")).json()
    resolutions = [e for e in detail["history"] if e["to_status"] == "resolved"]
    assert len(resolutions) == 1 and resolutions[0]["actor"] == winner["resolved_by"]
    assert detail["resolved_by"] == winner["resolved_by"]
