"""Teams: a key acts only on its own team's alerts, through every route.

Two teams' keys on one service: writer and manager keys of team A never
merge into, acknowledge, resolve, move or read team B's alert, whether by
POST /alerts, the Alertmanager receiver, the PagerDuty Events API or the
PATCH routes; another team's alert is a 404, as an unknown id is. An admin
key, and a key of team "*", see and act on every team.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.api.auth import hash_key
from tests.conftest import Service, ServiceFactory
from tests.helpers import alert_body
from tests.integrations.test_alertmanager import am_alert, payload

KEYS = {
    "a-writer": ("alerts:write", "a"),
    "a-manager": ("alerts:manage", "a"),
    "a-reader": ("read", "a"),
    "a-silencer": ("alerts:manage", "a"),
    "b-writer": ("alerts:write", "b"),
    "b-reader": ("read", "b"),
    "admin": ("admin", "default"),
    "all-reader": ("read", "*"),
    "all-silencer": ("alerts:manage", "*"),
    "plain-writer": ("alerts:write", None),  # no team: the default one
}


def secret(name: str) -> str:
    return f"{name}-key-0123456789abcdef"


def headers(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret(name)}"}


@pytest.fixture
async def teams(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    keys = [
        {"name": name, "hash": hash_key(secret(name)), "scopes": [scope]} | ({"team": team} if team else {})
        for name, (scope, team) in KEYS.items()
    ]
    async with service_factory(api_keys=keys) as svc:
        yield svc


async def submit(svc: Service, key: str, **overrides: Any) -> httpx.Response:
    return await svc.client.post("/alerts", json=alert_body(**overrides), headers=headers(key))


async def read(svc: Service, key: str, alert_id: str) -> httpx.Response:
    return await svc.client.get(f"/alerts/{alert_id}", headers=headers(key))


async def test_the_same_submission_from_two_teams_is_two_alerts(teams: Service) -> None:
    a = await submit(teams, "a-writer", dedup_key="disk-db-1")
    b = await submit(teams, "b-writer", dedup_key="disk-db-1", message="rewritten by b")
    assert (a.status_code, b.status_code) == (201, 201)  # b created its own: no merge into a's
    assert (a.json()["team"], b.json()["team"]) == ("a", "b") and a.json()["id"] != b.json()["id"]
    again = await submit(teams, "a-writer", dedup_key="disk-db-1", message="again")
    assert again.status_code == 200 and again.json()["id"] == a.json()["id"]
    stored = (await read(teams, "a-reader", a.json()["id"])).json()
    assert stored["message"] == "again" and stored["occurrences"] == 2  # never b's message
    plain = await submit(teams, "plain-writer", dedup_key="disk-db-1")
    assert plain.status_code == 201 and plain.json()["team"] == "default"


async def test_another_teams_alert_cannot_be_read_or_moved(teams: Service) -> None:
    b_alert = (await submit(teams, "b-writer")).json()
    missing = "00000000-0000-0000-0000-000000000000"
    for alert_id in (b_alert["id"], missing):  # the same answer: ids do not leak
        response = await read(teams, "a-reader", alert_id)
        assert response.status_code == 404 and response.json()["field"] == "id"
    for path, body in (
        ("acknowledge", {"by": "mallory"}),
        ("resolve", {"resolved_by": "mallory"}),
        ("status", {"status": "in_progress", "by": "mallory"}),
    ):
        response = await teams.client.patch(
            f"/alerts/{b_alert['id']}/{path}", json=body, headers=headers("a-manager")
        )
        assert response.status_code == 404, (path, response.text)
    assert (await read(teams, "b-reader", b_alert["id"])).json()["status"] == "open"
    listed = await teams.client.get("/alerts", headers=headers("a-reader"))
    assert listed.json()["items"] == []
    asked = await teams.client.get("/alerts", params={"team": "b"}, headers=headers("a-reader"))
    assert asked.status_code == 403 and asked.json()["field"] == "team"
    stats = await teams.client.get("/stats", headers=headers("a-reader"))
    assert stats.status_code == 200 and stats.json()["alerts"]["total"] == 0
    assert (await teams.client.get("/stats", headers=headers("b-reader"))).json()["alerts"]["total"] == 1


async def test_integrations_act_within_the_keys_team(teams: Service) -> None:
    b_am = await teams.client.post("/integrations/alertmanager", json=payload(), headers=headers("b-writer"))
    b_alert = b_am.json()["results"][0]
    assert b_alert["outcome"] == "created"
    resolved = payload(am_alert("resolved"), status="resolved")
    a_am = await teams.client.post("/integrations/alertmanager", json=resolved, headers=headers("a-writer"))
    assert a_am.json()["results"][0]["outcome"] == "unknown"  # a's namespace has no such alert
    assert (await read(teams, "b-reader", b_alert["alert_id"])).json()["status"] == "open"

    trigger = {
        "routing_key": secret("b-writer"),
        "event_action": "trigger",
        "dedup_key": "pd-disk",
        "payload": {"summary": "disk", "source": "db-1", "severity": "error"},
    }
    url = "/integrations/pagerduty/v2/enqueue"
    assert (await teams.client.post(url, json=trigger)).status_code == 202
    for action in ("acknowledge", "resolve"):
        forged = {"routing_key": secret("a-writer"), "event_action": action, "dedup_key": "pd-disk"}
        assert (await teams.client.post(url, json=forged)).status_code == 202  # a no-op, as PagerDuty answers
    [pd_alert] = [
        a
        for a in (await teams.client.get("/alerts", headers=headers("b-reader"))).json()["items"]
        if a["fingerprint"] == "pd-disk"
    ]
    assert pd_alert["status"] == "open" and pd_alert["team"] == "b"


async def test_admin_and_all_teams_keys_see_and_act_on_every_team(teams: Service) -> None:
    a_alert = (await submit(teams, "a-writer")).json()
    b_alert = (await submit(teams, "b-writer")).json()
    for key in ("admin", "all-reader"):
        listed = await teams.client.get("/alerts", headers=headers(key))
        assert {a["id"] for a in listed.json()["items"]} == {a_alert["id"], b_alert["id"]}
        only_b = await teams.client.get("/alerts", params={"team": "b"}, headers=headers(key))
        assert [a["id"] for a in only_b.json()["items"]] == [b_alert["id"]]
        assert (await read(teams, key, a_alert["id"])).status_code == 200
        stats = await teams.client.get("/stats", params={"team": "a"}, headers=headers(key))
        assert stats.json()["alerts"]["total"] == 1
    acked = await teams.client.patch(
        f"/alerts/{b_alert['id']}/acknowledge", json={"by": "root"}, headers=headers("admin")
    )
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"


def silence_body(**overrides: Any) -> dict[str, Any]:
    return {
        "matchers": [{"name": "alert_type", "value": "disk_full"}],
        "duration_minutes": 60,
        "created_by": "ops",
        "comment": "maintenance",
    } | overrides


async def test_a_teams_silence_holds_its_teams_alerts_only(teams: Service) -> None:
    made = await teams.client.post("/silences", json=silence_body(), headers=headers("a-silencer"))
    assert made.status_code == 201 and made.json()["team"] == "a"
    a_alert = (await submit(teams, "a-writer")).json()
    b_alert = (await submit(teams, "b-writer")).json()
    assert (a_alert["silenced"], a_alert["notified"]) == (True, False)
    assert (b_alert["silenced"], b_alert["notified"]) == (False, True)  # b's alert still pages
    b_read = (await read(teams, "b-reader", b_alert["id"])).json()
    assert b_read["silenced"] is False
    assert (
        await teams.client.get(f"/silences/{made.json()['id']}", headers=headers("b-reader"))
    ).status_code == 404
    assert (await teams.client.get("/silences", headers=headers("b-reader"))).json() == []

    every = await teams.client.post("/silences", json=silence_body(), headers=headers("all-silencer"))
    assert every.status_code == 201 and every.json()["team"] is None
    again = (await submit(teams, "b-writer", message="again")).json()
    assert again["silenced_by"] == [every.json()["id"]]  # a silence of every team holds b's too
    seen_by_a = {s["id"] for s in (await teams.client.get("/silences", headers=headers("a-reader"))).json()}
    assert seen_by_a == {made.json()["id"], every.json()["id"]}
    ended = await teams.client.delete(f"/silences/{every.json()['id']}", headers=headers("a-silencer"))
    assert ended.status_code == 403 and ended.json()["field"] == "id"
    ours = await teams.client.delete(f"/silences/{made.json()['id']}", headers=headers("a-silencer"))
    assert ours.status_code == 200 and ours.json()["state"] == "expired"


async def test_without_teams_everything_behaves_as_before(service: Service) -> None:
    created = (await service.client.post("/alerts", json=alert_body())).json()
    assert created["team"] == "default"
    listed = await service.client.get("/alerts", params={"team": "default"})
    assert [a["id"] for a in listed.json()["items"]] == [created["id"]]
