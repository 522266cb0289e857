"""Routes over HTTP, on both databases: made, read in the order they are
tried, changed and deleted; the 422s that name the field at fault; teams
(another team's route is a 404, another team's policy cannot be routed to);
`POST /routes/test`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.api.auth import hash_key
from tests.conftest import Service, ServiceFactory
from tests.oncall.test_api import KEYS, key, ok, secret
from tests.oncall.test_policies_api import CHANNELS, policy, refused


@pytest.fixture
async def svc(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    keys = [
        {"name": name, "hash": hash_key(secret(name)), "scopes": scopes, "team": team}
        for name, (scopes, team) in KEYS.items()
    ]
    async with service_factory(api_keys=keys, channels=CHANNELS) as service:
        yield service


async def route(svc: Service, who: str = "a-manager", **body: Any) -> dict[str, Any]:
    made: dict[str, Any] = await ok(await svc.client.post("/routes", json=body, headers=key(who)), 201)
    return made


PROD = {"name": "labels.env", "value": "prod"}


async def test_a_route_is_made_read_changed_and_deleted(svc: Service) -> None:
    pager = await policy(svc, name="pager")
    answer = await svc.client.post(
        "/routes",
        json={
            "name": "prod-critical",
            "matchers": [PROD, {"name": "severity", "value": "critical|high", "is_regex": True}],
            "escalation_policy": "pager",
            "channels": ["pager", "ops", "pager"],
            "continue": True,
        },
        headers=key("a-manager"),
    )
    made = await ok(answer, 201)
    assert answer.headers["Location"].endswith(f"/routes/{made['id']}")
    assert (made["team"], made["position"], made["continue"]) == ("a", 0, True)
    assert (made["escalation_policy_id"], made["escalation_policy"]) == (pager["id"], "pager")
    assert made["channels"] == ["pager", "ops"]
    assert made["matchers"][1] == {"name": "severity", "value": "critical|high", "is_regex": True}

    second = await route(svc, name="catch-all")
    assert (second["position"], second["matchers"], second["escalation_policy"], second["continue"]) == (
        1,
        [],
        None,
        False,
    )
    first = await route(svc, name="first", position=-5, escalation_policy_id=pager["id"])
    listed = await ok(await svc.client.get("/routes", headers=key("a-reader")))
    assert [r["name"] for r in listed] == ["first", "prod-critical", "catch-all"]
    assert await ok(await svc.client.get(f"/routes/{made['id']}", headers=key("a-reader"))) == made

    changed = await ok(
        await svc.client.patch(
            f"/routes/{made['id']}",
            json={"escalation_policy_id": None, "position": 10, "continue": False, "channels": []},
            headers=key("a-manager"),
        )
    )
    assert (changed["escalation_policy"], changed["position"], changed["continue"], changed["channels"]) == (
        None,
        10,
        False,
        [],
    )
    assert changed["matchers"] == made["matchers"]
    renamed = await ok(
        await svc.client.patch(f"/routes/{first['id']}", json={"name": "renamed"}, headers=key("a-manager"))
    )
    assert (renamed["name"], renamed["escalation_policy"]) == ("renamed", "pager")

    gone = await ok(await svc.client.delete(f"/routes/{made['id']}", headers=key("a-manager")))
    assert gone["name"] == "prod-critical"
    await refused(svc, "GET", f"/routes/{made['id']}", 404, "route_id")


async def test_route_errors_name_the_field(svc: Service) -> None:
    await policy(svc, name="pager")
    other = await policy(svc, name="theirs", who="b-manager")

    async def bad(field: str, **body: Any) -> str:
        return await refused(svc, "POST", "/routes", 422, field, json={"name": "r", **body})

    assert "unknown channel" in await bad("channels.1", channels=["ops", "sms-gw"])
    await bad("escalation_policy", escalation_policy="nope")
    # Another team's policy is not one to route to.
    message = await bad("escalation_policy_id", escalation_policy_id=other["id"])
    assert "team 'a' has no escalation policy" in message
    await bad("escalation_policy", escalation_policy_id=other["id"], escalation_policy="pager")
    await bad("matchers.0.value", matchers=[{"name": "severity", "value": "(a)\\1", "is_regex": True}])
    await bad("matchers.0.name", matchers=[{"name": "team", "value": "a"}])
    await bad("name", name="two words")
    await bad("continue", **{"continue": "perhaps"})
    await bad("position", position="first")
    assert await ok(await svc.client.get("/routes", headers=key("a-reader"))) == []

    made = await route(svc, name="r")
    await refused(svc, "POST", "/routes", 409, "name", json={"name": "r"})
    await refused(svc, "PATCH", f"/routes/{made['id']}", 422, "channels.0", json={"channels": ["sms-gw"]})
    await refused(
        svc,
        "PATCH",
        f"/routes/{made['id']}",
        422,
        "escalation_policy_id",
        json={"escalation_policy_id": other["id"]},
    )


async def test_a_team_sees_and_manages_only_its_own(svc: Service) -> None:
    mine = await route(svc, name="mine")
    theirs = await route(svc, name="theirs", who="b-manager")
    assert (mine["team"], theirs["team"]) == ("a", "b")
    for method in ("GET", "PATCH", "DELETE"):
        kw: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        await refused(svc, method, f"/routes/{theirs['id']}", 404, "route_id", **kw)
    assert [r["name"] for r in await ok(await svc.client.get("/routes", headers=key("a-reader")))] == ["mine"]
    await refused(svc, "POST", "/routes", 403, "team", json={"name": "x", "team": "b"})
    await refused(svc, "POST", "/routes", 403, "scope", who="a-reader", json={"name": "x"})
    everyone = await ok(await svc.client.get("/routes", headers=key("all-manager")))
    assert [(r["team"], r["name"]) for r in everyone] == [("a", "mine"), ("b", "theirs")]
    # A key of every team routes team b's alerts to team b's policies only.
    b_policy = await policy(svc, who="b-manager", name="b-pager")
    await refused(
        svc,
        "POST",
        "/routes",
        422,
        "escalation_policy",
        who="all-manager",
        json={"name": "x", "escalation_policy": "b-pager"},
    )
    made = await route(svc, who="all-manager", name="x", team="b", escalation_policy="b-pager")
    assert made["escalation_policy_id"] == b_policy["id"]


async def test_routes_test_answers_what_an_example_alert_would_get(svc: Service) -> None:
    pager = await policy(svc, name="pager")
    first = await route(svc, name="prod-all", matchers=[PROD], channels=["ops"], **{"continue": True})
    second = await route(
        svc, name="critical", matchers=[{"name": "severity", "value": "crit.*", "is_regex": True}],
        escalation_policy="pager", channels=["pager"],
    )  # fmt: skip
    await route(svc, name="never-reached", channels=["console"])
    await route(svc, name="b-route", who="b-manager", channels=["ops"])

    async def test(who: str = "a-reader", **body: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await ok(await svc.client.post("/routes/test", json=body, headers=key(who)))
        return answer

    both = await test(severity="fatal", labels={"env": "prod"})
    assert both == {
        "team": "a",
        "severity": "critical",
        "routes": [{"id": first["id"], "name": "prod-all"}, {"id": second["id"], "name": "critical"}],
        "escalation_policy": {"id": pager["id"], "name": "pager"},
        "channels": ["ops", "pager"],
    }
    catch_all = await test(severity="low")  # no env label: "" does not match "prod"
    assert [r["name"] for r in catch_all["routes"]] == ["never-reached"]
    assert (catch_all["escalation_policy"], catch_all["channels"]) == (None, ["console"])
    named = await test(severity="critical", channels=["console"])
    assert (named["escalation_policy"]["name"], named["channels"]) == ("pager", ["console"])
    # Nothing of team b's, and nothing stored: a team without routes gets the defaults.
    of_b = await test(who="all-manager", team="b", severity="low")
    assert [r["name"] for r in of_b["routes"]] == ["b-route"]
    nobody = await test(who="all-manager", team="c", severity="low")
    assert (nobody["routes"], nobody["escalation_policy"], nobody["channels"]) == ([], None, ["console"])
    await refused(
        svc, "POST", "/routes/test", 403, "team", who="a-reader", json={"team": "b", "severity": "low"}
    )
    await refused(svc, "POST", "/routes/test", 422, "severity", who="a-reader", json={"severity": "loud"})
    await refused(
        svc,
        "POST",
        "/routes/test",
        422,
        "channels.0",
        who="a-reader",
        json={"severity": "low", "channels": ["x"]},
    )
    assert (await ok(await svc.client.get("/alerts", headers=key("all-manager"))))["items"] == []
