"""Heartbeats (dead man's switches) over HTTP, with the app's clock injected.

A beat on time opens nothing; a missed one opens one `heartbeat_missed`
alert with one notification, through the path of any alert; the next beat
resolves it. The state lives in the database: a restarted service neither
cries wolf for an on-time heartbeat nor forgets an overdue one, and two
replicas checking at once open one alert. Keys see only their team's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.api.auth import hash_key
from app.services.heartbeats import Missed
from tests.conftest import FakeClock, Service, ServiceFactory
from tests.helpers import wait_for

# The worker runs once at start; the tests run the check when they mean to.
QUIET = {"heartbeat_check_seconds": 3600}


async def beat(client: httpx.AsyncClient, name: str, **body: Any) -> httpx.Response:
    return await client.post(f"/heartbeats/{name}", json=body or None)


async def check(svc: Service) -> list[Missed]:
    missed: list[Missed] = await svc.app.state.check_heartbeats()
    return missed


async def missed_alerts(client: httpx.AsyncClient, **headers: str) -> list[dict[str, Any]]:
    response = await client.get("/alerts", params={"alert_type": "heartbeat_missed"}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def notifications(client: httpx.AsyncClient, alert_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/alerts/{alert_id}")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["notifications"]
    return rows


async def heartbeat(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.get(f"/heartbeats/{name}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture
async def svc(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory(**QUIET) as service:
        yield service


async def test_first_beat_is_201_with_the_defaults_and_later_ones_200(svc: Service, clock: FakeClock) -> None:
    first = await beat(svc.client, "nightly-backup")
    assert first.status_code == 201, first.text
    assert first.headers["Location"].endswith("/heartbeats/nightly-backup")
    body = first.json()
    assert (body["name"], body["team"], body["state"], body["severity"]) == (
        "nightly-backup",
        "default",
        "up",
        "high",
    )
    assert body["timeout_seconds"] == 300 and body["alert_id"] is None
    assert body["due_at"] == (clock.now + timedelta(seconds=300)).isoformat().replace("+00:00", "Z")

    clock.advance(seconds=100)
    again = await beat(svc.client, "nightly-backup")
    assert again.status_code == 200 and "Location" not in again.headers
    assert again.json()["last_beat_at"] == clock.now.isoformat().replace("+00:00", "Z")
    assert again.json()["created_at"] == body["created_at"]


async def test_simultaneous_first_beats_make_one_heartbeat(svc: Service) -> None:
    answers = await asyncio.gather(*(beat(svc.client, "racer") for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert [h["name"] for h in (await svc.client.get("/heartbeats")).json()] == ["racer"]


async def test_fields_given_replace_and_fields_left_out_are_kept(svc: Service) -> None:
    made = await beat(
        svc.client,
        "etl",
        timeout_seconds=3600,
        severity="ERROR",
        labels={"env": "prod"},
        message="etl stalled",
    )
    assert made.status_code == 201, made.text
    assert made.json()["severity"] == "high"  # the alias, answered canonical
    kept = (await beat(svc.client, "etl")).json()
    assert (kept["timeout_seconds"], kept["labels"], kept["message"]) == (
        3600,
        {"env": "prod"},
        "etl stalled",
    )
    changed = (await beat(svc.client, "etl", timeout_seconds=60, severity="critical")).json()
    assert (changed["timeout_seconds"], changed["severity"], changed["labels"]) == (
        60,
        "critical",
        {"env": "prod"},
    )


async def test_beats_on_time_open_no_alert(svc: Service, clock: FakeClock) -> None:
    await beat(svc.client, "cron-1", timeout_seconds=60)
    for _ in range(5):
        clock.advance(seconds=59)
        assert await check(svc) == []
        assert (await beat(svc.client, "cron-1")).status_code == 200
    clock.advance(seconds=60)  # exactly the timeout: still on time
    assert await check(svc) == []
    assert (await heartbeat(svc.client, "cron-1"))["state"] == "up"
    assert await missed_alerts(svc.client) == []


async def test_a_missed_beat_opens_one_alert_with_one_notification(svc: Service, clock: FakeClock) -> None:
    await beat(svc.client, "billing-sync", timeout_seconds=60, severity="warning", labels={"env": "prod"})
    clock.advance(seconds=61)
    # Late as soon as it is due, before any check has run.
    assert (await heartbeat(svc.client, "billing-sync"))["state"] == "late"

    missed = await check(svc)
    assert [(m.name, m.outcome, m.queued) for m in missed] == [("billing-sync", "created", 1)]
    [alert] = await missed_alerts(svc.client)
    assert (alert["source"], alert["team"], alert["severity"], alert["labels"], alert["status"]) == (
        "billing-sync",
        "default",
        "medium",
        {"env": "prod"},
        "open",
    )
    assert alert["message"] == "no heartbeat from billing-sync for 1m"
    assert alert["details"]["heartbeat"] == "billing-sync"
    found = await heartbeat(svc.client, "billing-sync")
    assert (found["state"], found["alert_id"]) == ("late", alert["id"])

    for minutes in (1, 5, 30):  # later checks do not open it again nor notify again
        clock.advance(minutes=minutes)
        assert await check(svc) == []
    [again] = await missed_alerts(svc.client)
    assert again["id"] == alert["id"] and again["occurrences"] == 1
    assert [(n["channel"], n["reason"]) for n in await notifications(svc.client, alert["id"])] == [
        ("console", "new")
    ]


async def test_the_next_beat_resolves_the_alert_and_the_heartbeat_is_up(
    svc: Service, clock: FakeClock
) -> None:
    await beat(svc.client, "queue-drain", timeout_seconds=30, message="the queue drainer is down")
    clock.advance(seconds=90)
    await check(svc)
    [alert] = await missed_alerts(svc.client)
    assert alert["message"] == "the queue drainer is down"

    back = await beat(svc.client, "queue-drain")
    assert back.status_code == 200
    assert (back.json()["state"], back.json()["alert_id"]) == ("up", None)
    resolved = (await svc.client.get(f"/alerts/{alert['id']}")).json()
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "heartbeat")
    assert "1m after it was due" in resolved["resolution_notes"]
    last = resolved["history"][-1]
    assert (last["actor"], last["from_status"], last["to_status"]) == ("heartbeat", "open", "resolved")

    # Missed again within the dedup window: the same alert reopens, as any alert would.
    clock.advance(seconds=31)
    [missed] = await check(svc)
    assert (missed.alert_id.hex, missed.outcome) == (alert["id"].replace("-", ""), "reopened")


async def test_a_beat_after_the_alert_was_resolved_by_hand_just_comes_back(
    svc: Service, clock: FakeClock
) -> None:
    await beat(svc.client, "report", timeout_seconds=30)
    clock.advance(seconds=31)
    await check(svc)
    [alert] = await missed_alerts(svc.client)
    closed = await svc.client.patch(f"/alerts/{alert['id']}/status", json={"status": "closed", "by": "alice"})
    assert closed.status_code == 200
    back = await beat(svc.client, "report")
    assert back.status_code == 200 and back.json()["state"] == "up"
    assert (await svc.client.get(f"/alerts/{alert['id']}")).json()["status"] == "closed"


async def test_the_worker_in_the_lifespan_runs_the_check(
    service_factory: ServiceFactory, clock: FakeClock
) -> None:
    async with service_factory(heartbeat_check_seconds=0.05) as svc:
        await beat(svc.client, "ticker", timeout_seconds=10)
        clock.advance(seconds=11)

        async def opened() -> bool:
            return len(await missed_alerts(svc.client)) == 1

        await wait_for(opened)
        assert (await heartbeat(svc.client, "ticker"))["alert_id"] is not None


async def test_a_restart_neither_cries_wolf_nor_forgets(
    service_factory: ServiceFactory, clock: FakeClock
) -> None:
    async with service_factory(**QUIET) as first:
        await beat(first.client, "hourly", timeout_seconds=3600)
        await beat(first.client, "minutely", timeout_seconds=60)
    clock.advance(minutes=10)  # down for ten minutes: "minutely" missed its beat meanwhile

    async with service_factory(**QUIET) as second:
        # The new process's first check (at start) finds the overdue one.
        async def opened() -> bool:
            return (await heartbeat(second.client, "minutely"))["alert_id"] is not None

        await wait_for(opened)
        await check(second)
        [alert] = await missed_alerts(second.client)
        assert alert["source"] == "minutely"
        assert (await heartbeat(second.client, "hourly"))["state"] == "up"
        assert len(await notifications(second.client, alert["id"])) == 1

    clock.advance(minutes=1)
    async with service_factory(**QUIET) as third:  # a second restart while it is still late
        await check(third)
        [same] = await missed_alerts(third.client)
        assert same["id"] == alert["id"] and same["occurrences"] == 1
        assert len(await notifications(third.client, alert["id"])) == 1


async def test_two_replicas_checking_at_once_open_one_alert_each(
    service_factory: ServiceFactory, clock: FakeClock
) -> None:
    names = [f"job-{i}" for i in range(8)]
    async with service_factory(**QUIET) as one, service_factory(**QUIET) as two:
        for name in names:
            await beat(one.client, name, timeout_seconds=10)
        clock.advance(seconds=11)
        runs = await asyncio.gather(*(check(replica) for replica in (one, two, one, two)))
        claimed = sorted(m.name for run in runs for m in run)
        assert claimed == sorted(names)
        alerts = await missed_alerts(two.client)
        assert sorted(a["source"] for a in alerts) == sorted(names)
        assert all(a["occurrences"] == 1 for a in alerts)
        for alert in alerts:
            assert len(await notifications(one.client, alert["id"])) == 1


async def test_delete_retires_it_and_resolves_its_open_alert(svc: Service, clock: FakeClock) -> None:
    await beat(svc.client, "old-job", timeout_seconds=20)
    clock.advance(seconds=21)
    await check(svc)
    [alert] = await missed_alerts(svc.client)

    retired = await svc.client.delete("/heartbeats/old-job")
    assert retired.status_code == 200, retired.text
    assert (retired.json()["state"], retired.json()["alert_id"]) == ("late", alert["id"])
    resolved = (await svc.client.get(f"/alerts/{alert['id']}")).json()
    assert resolved["status"] == "resolved" and resolved["resolution_notes"] == "heartbeat old-job retired"
    assert (await svc.client.get("/heartbeats/old-job")).status_code == 404
    assert (await svc.client.get("/heartbeats")).json() == []
    assert (await svc.client.delete("/heartbeats/old-job")).status_code == 404
    clock.advance(hours=1)
    assert await check(svc) == []
    assert (await beat(svc.client, "old-job")).status_code == 201  # a later beat starts afresh


async def test_list_filters_on_state(svc: Service, clock: FakeClock) -> None:
    await beat(svc.client, "b-slow", timeout_seconds=3600)
    await beat(svc.client, "a-fast", timeout_seconds=10)
    clock.advance(seconds=11)
    listed = (await svc.client.get("/heartbeats")).json()
    assert [(h["name"], h["state"]) for h in listed] == [("a-fast", "late"), ("b-slow", "up")]
    late = (await svc.client.get("/heartbeats", params={"state": "late"})).json()
    assert [h["name"] for h in late] == ["a-fast"]
    up = (await svc.client.get("/heartbeats", params={"state": "up"})).json()
    assert [h["name"] for h in up] == ["b-slow"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/heartbeats/has%20space", None, "name"),
        ("/heartbeats/" + "x" * 201, None, "name"),
        ("/heartbeats/ok", {"timeout_seconds": 9}, "timeout_seconds"),
        ("/heartbeats/ok", {"timeout_seconds": 7 * 86400 + 1}, "timeout_seconds"),
        ("/heartbeats/ok", {"timeout_seconds": "soon"}, "timeout_seconds"),
        ("/heartbeats/ok", {"severity": "sev1"}, "severity"),
        ("/heartbeats/ok", {"labels": {"env": 1}}, "labels.env"),
        ("/heartbeats/ok", {"message": ""}, "message"),
        ("/heartbeats/ok", {"every": 60}, "every"),
    ],
)
async def test_validation_errors_name_the_field(
    svc: Service, path: str, body: dict[str, Any] | None, field: str
) -> None:
    response = await svc.client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert (await svc.client.get("/heartbeats")).json() == []


# --- teams ----------------------------------------------------------------------

TEAM_KEYS = {
    "a-writer": ("alerts:write", "a"),
    "a-reader": ("read", "a"),
    "a-manager": ("alerts:manage", "a"),
    "b-writer": ("alerts:write", "b"),
    "b-reader": ("read", "b"),
    "b-manager": ("alerts:manage", "b"),
    "admin": ("admin", "default"),
}


def as_key(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}-key-0123456789abcdef"}


@pytest.fixture
async def teams(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    keys = [
        {"name": name, "hash": hash_key(f"{name}-key-0123456789abcdef"), "scopes": [scope], "team": team}
        for name, (scope, team) in TEAM_KEYS.items()
    ]
    async with service_factory(api_keys=keys, **QUIET) as svc:
        yield svc


async def test_another_teams_key_neither_sees_nor_retires_it(teams: Service, clock: FakeClock) -> None:
    client = teams.client
    made = await client.post("/heartbeats/backup", json={"timeout_seconds": 30}, headers=as_key("a-writer"))
    assert made.status_code == 201 and made.json()["team"] == "a"

    assert (await client.get("/heartbeats/backup", headers=as_key("b-reader"))).status_code == 404
    assert (await client.delete("/heartbeats/backup", headers=as_key("b-manager"))).status_code == 404
    assert (await client.get("/heartbeats", headers=as_key("b-reader"))).json() == []
    asked = await client.get("/heartbeats", params={"team": "a"}, headers=as_key("b-reader"))
    assert asked.status_code == 403
    assert [h["name"] for h in (await client.get("/heartbeats", headers=as_key("a-reader"))).json()] == [
        "backup"
    ]
    everyone = (await client.get("/heartbeats", headers=as_key("admin"))).json()
    assert [(h["team"], h["name"]) for h in everyone] == [("a", "backup")]

    # The same name in team b is team b's own heartbeat.
    theirs = await client.post("/heartbeats/backup", headers=as_key("b-writer"))
    assert theirs.status_code == 201 and theirs.json()["team"] == "b"

    clock.advance(seconds=31)  # a's is late, b's (300 s) is not
    await check(teams)
    [alert] = await missed_alerts(client, **as_key("a-reader"))
    assert alert["team"] == "a"
    assert await missed_alerts(client, **as_key("b-reader")) == []

    # An admin addresses another team's heartbeat with ?team=.
    one = await client.get("/heartbeats/backup", params={"team": "a"}, headers=as_key("admin"))
    assert (one.json()["team"], one.json()["state"]) == ("a", "late")
    retired = await client.delete("/heartbeats/backup", headers=as_key("a-manager"))
    assert retired.status_code == 200
    assert (await client.get("/heartbeats/backup", headers=as_key("b-reader"))).json()["team"] == "b"
