"""The lifecycle state machine over HTTP: allowed moves, refused moves, history."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.services.lifecycle import ALLOWED_MOVES
from tests.conftest import Service
from tests.helpers import create_alert, move

STATES = ("open", "acknowledged", "in_progress", "resolved", "closed", "reopened")
# How to bring a fresh alert into each state.
PATHS: dict[str, list[str]] = {
    "open": [],
    "acknowledged": ["acknowledged"],
    "in_progress": ["in_progress"],
    "resolved": ["resolved"],
    "closed": ["closed"],
    "reopened": ["resolved", "reopened"],
}


async def alert_in(client: httpx.AsyncClient, state: str, **overrides: Any) -> dict[str, Any]:
    alert = await create_alert(client, **overrides)
    for step in PATHS[state]:
        response = await move(client, alert["id"], step)
        assert response.status_code == 200, response.text
        alert = response.json()
    assert alert["status"] == state
    return alert


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


@pytest.mark.parametrize("state", STATES)
async def test_every_allowed_move_succeeds(service: Service, state: str) -> None:
    for target in sorted(ALLOWED_MOVES[state]):
        alert = await alert_in(service.client, state, source=f"host-{state}-{target}")
        response = await move(service.client, alert["id"], target)
        assert response.status_code == 200, (state, target, response.text)
        assert response.json()["status"] == target


@pytest.mark.parametrize("state", STATES)
async def test_every_refused_move_is_409_naming_both_states(service: Service, state: str) -> None:
    alert = await alert_in(service.client, state)
    refused = [target for target in STATES if target not in ALLOWED_MOVES[state]]
    assert refused, "every state refuses some move"
    for target in refused:
        response = await move(service.client, alert["id"], target)
        assert response.status_code == 409, (state, target)
        body = response.json()
        assert body["code"] == "conflict" and body["field"] == "status"
        assert f"from {state} to {target}" in body["message"]
    after = (await service.client.get(f"/alerts/{alert['id']}")).json()
    assert after["status"] == state  # refused moves changed nothing
    assert len([e for e in after["history"] if e["kind"] == "status"]) == len(PATHS[state])


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
