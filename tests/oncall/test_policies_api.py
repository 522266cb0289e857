"""Escalation policies over HTTP, on both databases: made, read, changed and
deleted; the 422s that name the step and target at fault; the 409s (a name
taken, a policy a route uses, a schedule or user a policy names); teams
(another team's policy is a 404).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.api.auth import hash_key
from tests.api.test_errors import assert_error_shape
from tests.conftest import Service, ServiceFactory
from tests.oncall.test_api import KEYS, key, ok, secret, user

CHANNELS = {"ops": {"type": "console"}, "pager": {"type": "console"}}


@pytest.fixture
async def svc(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    keys = [
        {"name": name, "hash": hash_key(secret(name)), "scopes": scopes, "team": team}
        for name, (scopes, team) in KEYS.items()
    ]
    async with service_factory(api_keys=keys, channels=CHANNELS) as service:
        yield service


async def schedule(svc: Service, name: str = "primary", who: str = "a-manager") -> dict[str, Any]:
    body = {"name": name, "time_zone": "UTC"}
    made: dict[str, Any] = await ok(await svc.client.post("/schedules", json=body, headers=key(who)), 201)
    return made


async def policy(svc: Service, who: str = "a-manager", **body: Any) -> dict[str, Any]:
    body = {"name": "critical", "steps": [{"after_minutes": 0, "notify": ["ops"]}], **body}
    made: dict[str, Any] = await ok(
        await svc.client.post("/escalation-policies", json=body, headers=key(who)), 201
    )
    return made


async def refused(svc: Service, method: str, path: str, status: int, field: str | None, **kw: Any) -> str:
    answer = await svc.client.request(method, path, headers=key(kw.pop("who", "a-manager")), **kw)
    body = assert_error_shape(answer, status)
    assert body["field"] == field, body
    return str(body["message"])


async def test_a_policy_is_made_read_changed_and_deleted(svc: Service) -> None:
    await user(svc, "alice")
    await schedule(svc)
    answer = await svc.client.post(
        "/escalation-policies",
        json={
            "name": "payments-critical",
            "description": "wake people up",
            "steps": [
                {"after_minutes": 0, "notify": ["schedule:primary", "ops"]},
                {"after_minutes": 15, "notify": ["user:alice", "channel:pager"]},
            ],
            "repeat_last_step": 2,
            "repeat_every_minutes": 10,
        },
        headers=key("a-manager"),
    )
    made = await ok(answer, 201)
    assert answer.headers["Location"].endswith(f"/escalation-policies/{made['id']}")
    assert made["team"] == "a"
    assert made["steps"][1] == {"after_minutes": 15.0, "notify": ["user:alice", "channel:pager"]}
    assert (made["repeat_last_step"], made["repeat_every_minutes"]) == (2, 10.0)

    assert (
        await ok(await svc.client.get(f"/escalation-policies/{made['id']}", headers=key("a-reader"))) == made
    )
    listed = await ok(await svc.client.get("/escalation-policies", headers=key("a-reader")))
    assert [p["name"] for p in listed] == ["payments-critical"]

    changed = await ok(
        await svc.client.patch(
            f"/escalation-policies/{made['id']}",
            json={"name": "payments-urgent", "repeat_last_step": 0},
            headers=key("a-manager"),
        )
    )
    assert (changed["name"], changed["repeat_last_step"], changed["steps"]) == (
        "payments-urgent",
        0,
        made["steps"],
    )
    gone = await ok(await svc.client.delete(f"/escalation-policies/{made['id']}", headers=key("a-manager")))
    assert gone["name"] == "payments-urgent"
    await refused(svc, "GET", f"/escalation-policies/{made['id']}", 404, "policy_id")


async def test_policy_errors_name_the_step_and_target(svc: Service) -> None:
    await user(svc, "alice")
    await user(svc, "bob", who="b-manager")
    await schedule(svc)
    await schedule(svc, "other-team-schedule", who="b-manager")

    def body(*steps: Any, **more: Any) -> dict[str, Any]:
        return {"json": {"name": "p", "steps": list(steps), **more}}

    first = {"after_minutes": 0, "notify": ["ops"]}
    message = await refused(
        svc, "POST", "/escalation-policies", 422, "steps.1.notify.0",
        **body(first, {"after_minutes": 5, "notify": ["schedule:nope"]}),
    )  # fmt: skip
    assert "nope" in message
    await refused(
        svc, "POST", "/escalation-policies", 422, "steps.0.notify.1",
        **body({"after_minutes": 0, "notify": ["ops", "schedule:other-team-schedule"]}),
    )  # fmt: skip
    message = await refused(
        svc, "POST", "/escalation-policies", 422, "steps.1.notify.1",
        **body(first, {"after_minutes": 5, "notify": ["user:alice", "user:bob"]}),
    )  # fmt: skip
    assert "not a member" in message
    await refused(
        svc,
        "POST",
        "/escalation-policies",
        422,
        "steps.0.notify.0",
        **body({"after_minutes": 0, "notify": ["user:nobody"]}),
    )
    message = await refused(
        svc,
        "POST",
        "/escalation-policies",
        422,
        "steps.0.notify.0",
        **body({"after_minutes": 0, "notify": ["sms-gw"]}),
    )
    assert "unknown channel" in message
    await refused(
        svc, "POST", "/escalation-policies", 422, "steps.1.after_minutes",
        **body({"after_minutes": 10, "notify": ["ops"]}, {"after_minutes": 5, "notify": ["ops"]}),
    )  # fmt: skip
    await refused(
        svc, "POST", "/escalation-policies", 422, "repeat_every_minutes", **body(first, repeat_last_step=3)
    )
    await refused(
        svc,
        "POST",
        "/escalation-policies",
        422,
        "repeat_last_step",
        **body(first, repeat_last_step=101, repeat_every_minutes=1),
    )
    await refused(svc, "POST", "/escalation-policies", 422, "steps", **body())
    await refused(
        svc, "POST", "/escalation-policies", 422, "steps.0.notify", **body({"after_minutes": 0, "notify": []})
    )
    await refused(
        svc,
        "POST",
        "/escalation-policies",
        422,
        "steps.0.after_minutes",
        **body({"after_minutes": -1, "notify": ["ops"]}),
    )
    # Nothing was stored by the refusals.
    assert await ok(await svc.client.get("/escalation-policies", headers=key("a-reader"))) == []

    made = await policy(svc)
    await refused(
        svc, "POST", "/escalation-policies", 409, "name", json={"name": "critical", "steps": [first]}
    )
    await refused(
        svc, "PATCH", f"/escalation-policies/{made['id']}", 422, "steps.0.notify.0",
        json={"steps": [{"after_minutes": 0, "notify": ["user:bob"]}]},
    )  # fmt: skip
    await refused(
        svc,
        "PATCH",
        f"/escalation-policies/{made['id']}",
        422,
        "repeat_every_minutes",
        json={"repeat_last_step": 1},
    )


async def test_scopes_read_looks_and_oncall_manage_changes(svc: Service) -> None:
    made = await policy(svc)
    await refused(
        svc, "POST", "/escalation-policies", 403, "scope", who="a-reader", json={"name": "x", "steps": []}
    )
    await refused(svc, "DELETE", f"/escalation-policies/{made['id']}", 403, "scope", who="a-alerts")
    assert len(await ok(await svc.client.get("/escalation-policies", headers=key("a-alerts")))) == 1


async def test_a_policy_a_route_uses_is_not_deleted(svc: Service) -> None:
    made = await policy(svc)
    route = await ok(
        await svc.client.post(
            "/routes", json={"name": "all", "escalation_policy_id": made["id"]}, headers=key("a-manager")
        ),
        201,
    )
    message = await refused(svc, "DELETE", f"/escalation-policies/{made['id']}", 409, "policy_id")
    assert "all" in message
    await ok(await svc.client.delete(f"/routes/{route['id']}", headers=key("a-manager")))
    await ok(await svc.client.delete(f"/escalation-policies/{made['id']}", headers=key("a-manager")))


async def test_a_schedule_or_user_a_policy_names_stays(svc: Service) -> None:
    alice = await user(svc, "alice")
    primary = await schedule(svc)
    made = await policy(svc, steps=[{"after_minutes": 0, "notify": ["schedule:primary", "user:alice"]}])

    message = await refused(svc, "DELETE", f"/schedules/{primary['id']}", 409, "schedule_id")
    assert "a/critical" in message
    await refused(svc, "PATCH", f"/schedules/{primary['id']}", 409, "name", json={"name": "renamed"})
    await refused(svc, "DELETE", f"/users/{alice['id']}", 409, "teams")
    await refused(svc, "PATCH", f"/users/{alice['id']}", 409, "name", json={"name": "alice2"})
    await refused(
        svc, "PATCH", f"/users/{alice['id']}", 409, "teams", who="all-manager", json={"teams": ["b"]}
    )

    await ok(
        await svc.client.patch(
            f"/escalation-policies/{made['id']}",
            json={"steps": [{"after_minutes": 0, "notify": ["ops"]}]},
            headers=key("a-manager"),
        )
    )
    await ok(
        await svc.client.patch(
            f"/schedules/{primary['id']}", json={"name": "renamed"}, headers=key("a-manager")
        )
    )
    await ok(await svc.client.delete(f"/schedules/{primary['id']}", headers=key("a-manager")))
    await ok(await svc.client.delete(f"/users/{alice['id']}", headers=key("a-manager")))


async def test_a_team_sees_and_manages_only_its_own(svc: Service) -> None:
    mine = await policy(svc)
    theirs = await policy(svc, who="b-manager")
    assert mine["team"] == "a" and theirs["team"] == "b"
    for method in ("GET", "PATCH", "DELETE"):
        kw: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        await refused(svc, method, f"/escalation-policies/{theirs['id']}", 404, "policy_id", **kw)
    assert [
        p["id"] for p in await ok(await svc.client.get("/escalation-policies", headers=key("a-reader")))
    ] == [mine["id"]]
    await refused(svc, "GET", "/escalation-policies?team=b", 403, "team", who="a-reader")
    await refused(
        svc,
        "POST",
        "/escalation-policies",
        403,
        "team",
        json={"name": "x", "team": "b", "steps": [{"after_minutes": 0, "notify": ["ops"]}]},
    )
    everyone = await ok(await svc.client.get("/escalation-policies", headers=key("all-manager")))
    assert [(p["team"], p["name"]) for p in everyone] == [("a", "critical"), ("b", "critical")]
    made = await policy(svc, who="all-manager", team="b", name="by-admin")
    assert made["team"] == "b"
