"""Alerts submitted over HTTP take the policy and channels of their route, on
both databases (SQLite's group commit, PostgreSQL's one statement); a reopen
is routed again; another replica sees a change within about a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from app.api.auth import hash_key
from tests.conftest import FakeClock, Service, ServiceFactory
from tests.oncall.test_api import KEYS, key, ok, secret
from tests.oncall.test_policies_api import CHANNELS, policy
from tests.oncall.test_routes_api import PROD, route

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)

WRITERS = {
    "a-writer": (["alerts:write", "alerts:manage", "read"], "a"),
    "b-writer": (["alerts:write", "read"], "b"),
}


def settings() -> dict[str, Any]:
    keys = [
        {"name": name, "hash": hash_key(secret(name)), "scopes": scopes, "team": team}
        for name, (scopes, team) in (KEYS | WRITERS).items()
    ]
    return {"api_keys": keys, "channels": CHANNELS}


@pytest.fixture
async def svc(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory(**settings()) as service:
        yield service


async def submit(svc: Service, who: str = "a-writer", status: int = 201, **body: Any) -> dict[str, Any]:
    body = {"alert_type": "disk_full", "severity": "critical", "message": "full", "source": "db-1",
            "labels": {"env": "prod"}, **body}  # fmt: skip
    answer: dict[str, Any] = await ok(await svc.client.post("/alerts", json=body, headers=key(who)), status)
    return answer


async def test_a_new_alert_takes_its_routes_policy_and_channels(svc: Service, clock: FakeClock) -> None:
    pager = await policy(svc, name="pager", steps=[{"after_minutes": 2, "notify": ["ops"]}])
    await route(svc, name="prod", matchers=[PROD], escalation_policy="pager", channels=["pager"])

    routed = await submit(svc)
    assert (routed["escalation_policy_id"], routed["channels"], routed["notified"]) == (
        pager["id"],
        ["pager"],
        True,
    )
    assert routed["next_escalation_at"] == (clock.now + timedelta(minutes=2)).isoformat().replace(
        "+00:00", "Z"
    )
    detail = await ok(await svc.client.get(f"/alerts/{routed['id']}", headers=key("a-reader")))
    assert detail["escalation_policy_id"] == pager["id"]
    assert [n["channel"] for n in detail["notifications"]] == ["pager"]

    # No route matches: the defaults and the configured policy, as before routes.
    staging = await submit(svc, labels={"env": "staging"})
    assert (staging["escalation_policy_id"], staging["channels"]) == (None, ["console"])
    # Another team's alert of the same labels: team a's routes are not b's.
    theirs = await submit(svc, who="b-writer")
    assert (theirs["team"], theirs["escalation_policy_id"], theirs["channels"]) == ("b", None, ["console"])
    # Channels the submission names win; the policy holds.
    named = await submit(svc, source="db-2", channels=["ops"])
    assert (named["escalation_policy_id"], named["channels"]) == (pager["id"], ["ops"])
    # A duplicate keeps the alert's policy (even one raising its severity).
    again = await submit(svc, status=200, severity="high")
    assert (again["outcome"], again["escalation_policy_id"]) == ("duplicate", pager["id"])
    # A batch is routed as single submissions are.
    batch = await ok(
        await svc.client.post(
            "/alerts",
            json=[
                {
                    "alert_type": "t",
                    "severity": "low",
                    "message": "m",
                    "source": f"s{i}",
                    "labels": {"env": "prod"},
                }
                for i in range(2)
            ],
            headers=key("a-writer"),
        )
    )
    assert [(b["escalation_policy_id"], b["channels"]) for b in batch] == [(pager["id"], ["pager"])] * 2


async def test_a_reopened_alert_is_routed_again(svc: Service, clock: FakeClock) -> None:
    pager = await policy(svc, name="pager", steps=[{"after_minutes": 0, "notify": ["ops"]}])
    prod = await route(svc, name="prod", matchers=[PROD], escalation_policy="pager", channels=["pager"])
    first = await submit(svc)
    assert first["escalation_policy_id"] == pager["id"]
    resolved = await svc.client.patch(
        f"/alerts/{first['id']}/resolve", json={"resolved_by": "alice"}, headers=key("a-writer")
    )
    await ok(resolved)
    await ok(
        await svc.client.patch(
            f"/routes/{prod['id']}",
            json={"escalation_policy": None, "channels": ["ops"]},
            headers=key("a-manager"),
        )
    )
    clock.advance(minutes=5)
    back = await submit(svc, status=200)
    assert (back["outcome"], back["id"]) == ("reopened", first["id"])
    assert (back["escalation_policy_id"], back["channels"]) == (None, ["ops"])
    # critical, the configured policy: level 3 after 30 minutes from the reopen.
    assert back["next_escalation_at"] == (clock.now + timedelta(minutes=30)).isoformat().replace(
        "+00:00", "Z"
    )


async def test_another_replica_sees_a_change_within_about_a_second(service_factory: ServiceFactory) -> None:
    async with service_factory(**settings()) as one, service_factory(**settings()) as two:
        await policy(one, name="pager")
        await route(one, name="prod", matchers=[PROD], escalation_policy="pager", channels=["pager"])
        assert (await submit(one, source="on-one"))["channels"] == ["pager"]  # at once where it was made
        for _ in range(30):
            await asyncio.sleep(0.1)
            if two.app.state.routing.table:
                break
        made = await submit(two, source="on-two")
        assert made["channels"] == ["pager"]


async def test_a_policy_deleted_on_another_replica_leaves_its_alerts_the_configured_one(
    service_factory: ServiceFactory,
) -> None:
    """Replica two still routes to a policy that replica one deleted a moment
    ago: singles and batches are stored with no policy, never refused."""
    async with service_factory(**settings()) as one, service_factory(**settings()) as two:
        pager = await policy(one, name="pager")
        made = await route(one, name="prod", matchers=[PROD], escalation_policy="pager", channels=["pager"])
        await two.app.state.routing.reload()
        await ok(await one.client.delete(f"/routes/{made['id']}", headers=key("a-manager")))
        await ok(await one.client.delete(f"/escalation-policies/{pager['id']}", headers=key("a-manager")))
        assert two.app.state.routing.table  # two has not seen the change yet

        single = await submit(two, source="single")
        bodies = [{"alert_type": "disk_full", "severity": "critical", "message": "full", "source": f"batch-{n}",
                   "labels": {"env": "prod"}} for n in range(3)]  # fmt: skip
        batch = await ok(await two.client.post("/alerts", json=bodies, headers=key("a-writer")), 200)
        stored = [single, *batch]
        assert [alert["escalation_policy_id"] for alert in stored] == [None] * 4
        assert [alert["channels"] for alert in stored] == [["pager"]] * 4
