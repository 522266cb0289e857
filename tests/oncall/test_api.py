"""On call over HTTP, on both databases: users, schedules with inline
layers, overrides, who is on call and the shifts of a range; the 422s that
name the field at fault; teams (another team's user or schedule is a 404).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.api.auth import hash_key
from app.services.oncall import schedules
from tests.api.test_errors import assert_error_shape
from tests.conftest import FakeClock, Service, ServiceFactory

KEYS = {
    "a-manager": (["oncall:manage", "read"], "a"),
    "a-reader": (["read"], "a"),
    "a-alerts": (["alerts:manage", "read"], "a"),
    "b-manager": (["oncall:manage", "read"], "b"),
    "all-manager": (["oncall:manage", "read"], "*"),
    "admin": (["admin"], "default"),
}
WEEK = {"shift_unit": "weeks", "shift_length": 1, "handoff_time": "09:00", "start_date": "2026-01-05"}


def secret(name: str) -> str:
    return f"{name}-key-0123456789abcdef"


def key(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret(name)}"}


@pytest.fixture
async def svc(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    keys = [
        {"name": name, "hash": hash_key(secret(name)), "scopes": scopes, "team": team}
        for name, (scopes, team) in KEYS.items()
    ]
    async with service_factory(api_keys=keys) as service:
        yield service


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def user(svc: Service, name: str, who: str = "a-manager", **body: Any) -> dict[str, Any]:
    made: dict[str, Any] = await ok(
        await svc.client.post("/users", json={"name": name, **body}, headers=key(who)), 201
    )
    return made


async def schedule(svc: Service, who: str = "a-manager", **body: Any) -> dict[str, Any]:
    body = {"name": "primary", "time_zone": "Europe/Berlin", **body}
    made: dict[str, Any] = await ok(await svc.client.post("/schedules", json=body, headers=key(who)), 201)
    return made


async def test_users_are_made_read_changed_and_deleted(svc: Service) -> None:
    answer = await svc.client.post(
        "/users",
        json={
            "name": "alice",
            "full_name": "Alice Example",
            "time_zone": "Europe/Berlin",
            "contact_methods": [
                {"type": "email", "address": "alice@example.com"},
                {"type": "sms", "address": "+4915112345678"},
            ],
        },
        headers=key("a-manager"),
    )
    alice = await ok(answer, 201)
    assert answer.headers["Location"].endswith(f"/users/{alice['id']}")
    assert (alice["name"], alice["teams"], alice["time_zone"]) == ("alice", ["a"], "Europe/Berlin")
    assert [c["type"] for c in alice["contact_methods"]] == ["email", "sms"]
    assert await ok(await svc.client.get(f"/users/{alice['id']}", headers=key("a-reader"))) == alice

    changed = await ok(
        await svc.client.patch(
            f"/users/{alice['id']}",
            json={"full_name": "Alice E.", "contact_methods": []},
            headers=key("a-manager"),
        )
    )
    assert (changed["full_name"], changed["contact_methods"], changed["time_zone"]) == (
        "Alice E.",
        [],
        "Europe/Berlin",
    )
    assert [u["name"] for u in await ok(await svc.client.get("/users", headers=key("a-reader")))] == ["alice"]

    gone = await ok(await svc.client.delete(f"/users/{alice['id']}", headers=key("a-manager")))
    assert gone["name"] == "alice"
    assert_error_shape(await svc.client.get(f"/users/{alice['id']}", headers=key("a-reader")), 404)


async def test_user_input_errors_name_the_field(svc: Service) -> None:
    await user(svc, "alice")
    cases = [
        ({"name": "alice"}, 409, "name"),
        ({"name": "bob", "time_zone": "Mars/Olympus"}, 422, "time_zone"),
        (
            {"name": "bob", "contact_methods": [{"type": "email", "address": "not-an-address"}]},
            422,
            "contact_methods.0.address",
        ),
        (
            {"name": "bob", "contact_methods": [{"type": "sms", "address": "0151 123"}]},
            422,
            "contact_methods.0.address",
        ),
        (
            {"name": "bob", "contact_methods": [{"type": "pager", "address": "x"}]},
            422,
            "contact_methods.0.type",
        ),
        ({"name": "bob smith"}, 422, "name"),
        ({"name": "bob", "teams": ["b"]}, 403, "teams"),
    ]
    for body, status, field in cases:
        error = assert_error_shape(
            await svc.client.post("/users", json=body, headers=key("a-manager")), status
        )
        assert error["field"] == field, (body, error)
    assert "Mars/Olympus" in str(
        assert_error_shape(await svc.client.post("/users", json=cases[1][0], headers=key("a-manager")), 422)[
            "message"
        ]
    )
    assert [u["name"] for u in await ok(await svc.client.get("/users", headers=key("admin")))] == ["alice"]


async def test_scopes_read_looks_and_oncall_manage_changes(svc: Service) -> None:
    for who in ("a-reader", "a-alerts"):
        error = assert_error_shape(await svc.client.post("/users", json={"name": "x"}, headers=key(who)), 403)
        assert "oncall:manage" in str(error["message"])
    await user(svc, "alice")
    assert len(await ok(await svc.client.get("/users", headers=key("a-alerts")))) == 1


async def test_a_schedule_answers_who_is_on_call_and_the_shifts(svc: Service, clock: FakeClock) -> None:
    alice, bob = await user(svc, "alice"), await user(svc, "bob")
    answer = await svc.client.post(
        "/schedules",
        json={
            "name": "primary",
            "time_zone": "Europe/Berlin",
            "layers": [{**WEEK, "participants": [alice["id"], bob["id"]]}],
        },
        headers=key("a-manager"),
    )
    made = await ok(answer, 201)
    assert answer.headers["Location"].endswith(f"/schedules/{made['id']}")
    assert made["team"] == "a" and made["layers"][0]["name"] == "layer-1"
    assert made["layers"][0]["restrictions"] == []
    sid = made["id"]

    # The clock: Monday 5 January 2026, 09:00 UTC = 10:00 in Berlin, alice's first week.
    now = await ok(await svc.client.get(f"/schedules/{sid}/oncall", headers=key("a-reader")))
    assert now["user"]["name"] == "alice" and now["at"] == "2026-01-05T09:00:00Z"
    later = await ok(
        await svc.client.get(
            f"/schedules/{sid}/oncall", params={"at": "2026-01-12T08:00:00Z"}, headers=key("a-reader")
        )
    )
    assert later["user"]["name"] == "bob"
    before = await ok(
        await svc.client.get(
            f"/schedules/{sid}/oncall", params={"at": "2026-01-05T07:59:59Z"}, headers=key("a-reader")
        )
    )
    assert before["user"] is None

    listed = await ok(
        await svc.client.get(
            f"/schedules/{sid}/shifts",
            params={"from": "2026-01-05T00:00:00Z", "to": "2026-01-19T08:00:00Z"},
            headers=key("a-reader"),
        )
    )
    assert [(s["user"]["name"], s["start"], s["end"], s["sources"]) for s in listed["shifts"]] == [
        ("alice", "2026-01-05T08:00:00Z", "2026-01-12T08:00:00Z", ["layer-1"]),
        ("bob", "2026-01-12T08:00:00Z", "2026-01-19T08:00:00Z", ["layer-1"]),
    ]
    assert (listed["from"], listed["to"], listed["time_zone"]) == (
        "2026-01-05T00:00:00Z",
        "2026-01-19T08:00:00Z",
        "Europe/Berlin",
    )
    default = await ok(await svc.client.get(f"/schedules/{sid}/shifts", headers=key("a-reader")))
    assert (default["from"], default["to"]) == ("2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z")
    clock.advance(days=7)
    assert (await ok(await svc.client.get(f"/schedules/{sid}/oncall", headers=key("a-reader"))))["user"][
        "name"
    ] == "bob"


async def test_overrides_win_and_can_be_deleted(svc: Service) -> None:
    alice, bob = await user(svc, "alice"), await user(svc, "bob")
    sid = (await schedule(svc, layers=[{**WEEK, "participants": [alice["id"]]}]))["id"]
    cover = {
        "user_id": bob["id"],
        "start": "2026-01-06T10:00:00+01:00",
        "end": "2026-01-06T12:00:00+01:00",
        "note": "dentist",
    }
    made = await ok(
        await svc.client.post(f"/schedules/{sid}/overrides", json=cover, headers=key("a-manager")), 201
    )
    assert (made["user"]["name"], made["start"], made["end"], made["created_by"]) == (
        "bob", "2026-01-06T09:00:00Z", "2026-01-06T11:00:00Z", "a-manager"
    )  # fmt: skip
    at = {"at": "2026-01-06T10:00:00Z"}
    assert (await ok(await svc.client.get(f"/schedules/{sid}/oncall", params=at, headers=key("a-reader"))))[
        "user"
    ]["name"] == "bob"
    listed = await ok(
        await svc.client.get(
            f"/schedules/{sid}/shifts",
            params={"from": "2026-01-06T00:00:00Z", "to": "2026-01-07T00:00:00Z"},
            headers=key("a-reader"),
        )
    )
    assert [(s["user"]["name"], s["sources"]) for s in listed["shifts"]] == [
        ("alice", ["layer-1"]), ("bob", ["override"]), ("alice", ["layer-1"])
    ]  # fmt: skip
    overrides = await ok(await svc.client.get(f"/schedules/{sid}/overrides", headers=key("a-reader")))
    assert [o["id"] for o in overrides] == [made["id"]]

    # bob covers an override that has not ended: he stays.
    error = assert_error_shape(await svc.client.delete(f"/users/{bob['id']}", headers=key("a-manager")), 409)
    assert "override" in str(error["message"])
    await ok(await svc.client.delete(f"/schedules/{sid}/overrides/{made['id']}", headers=key("a-manager")))
    assert (await ok(await svc.client.get(f"/schedules/{sid}/oncall", params=at, headers=key("a-reader"))))[
        "user"
    ]["name"] == "alice"
    assert_error_shape(
        await svc.client.delete(f"/schedules/{sid}/overrides/{made['id']}", headers=key("a-manager")), 404
    )


async def test_schedule_input_errors_name_the_field(svc: Service) -> None:
    alice = await user(svc, "alice")
    outsider = await user(svc, "zed", who="b-manager")
    layer = {**WEEK, "participants": [alice["id"]]}
    cases = [
        ({"time_zone": "Europe/Berlln"}, "time_zone"),
        ({"layers": [{**layer, "shift_length": 0}]}, "layers.0.shift_length"),
        ({"layers": [{**layer, "shift_length": -3}]}, "layers.0.shift_length"),
        ({"layers": [{**layer, "shift_unit": "months"}]}, "layers.0.shift_unit"),
        ({"layers": [{**layer, "handoff_time": "25:00"}]}, "layers.0.handoff_time"),
        ({"layers": [{**layer, "start_date": "0001-01-01"}]}, "layers.0.start_date"),
        ({"layers": [{**layer, "start_date": "9999-12-31"}]}, "layers.0.start_date"),
        ({"layers": [{**layer, "participants": []}]}, "layers.0.participants"),
        (
            {
                "layers": [
                    layer,
                    {**layer, "restrictions": [{"weekdays": ["mon"], "start": "18:00", "end": "09:00"}]},
                ]
            },
            "layers.1.restrictions.0.end",
        ),
        (
            {
                "layers": [
                    {**layer, "restrictions": [{"weekdays": ["someday"], "start": "09:00", "end": "18:00"}]}
                ]
            },
            "layers.0.restrictions.0.weekdays.0",
        ),
        ({"layers": [{**layer, "participants": [alice["id"], outsider["id"]]}]}, "layers.0.participants.1"),
        ({"layers": [{**layer, "name": "x"}, {**layer, "name": "x"}]}, "layers"),
    ]
    for extra, field in cases:
        body = {"name": "primary", "time_zone": "Europe/Berlin", **extra}
        error = assert_error_shape(
            await svc.client.post("/schedules", json=body, headers=key("a-manager")), 422
        )
        assert error["field"] == field, (extra, error)
    assert await ok(await svc.client.get("/schedules", headers=key("a-reader"))) == []

    sid = (await schedule(svc, layers=[layer]))["id"]
    error = assert_error_shape(
        await svc.client.post(
            "/schedules", json={"name": "primary", "time_zone": "UTC"}, headers=key("a-manager")
        ),
        409,
    )
    assert error["field"] == "name"
    cover = {"user_id": alice["id"], "start": "2026-01-06T12:00:00Z", "end": "2026-01-06T10:00:00Z"}
    error = assert_error_shape(
        await svc.client.post(f"/schedules/{sid}/overrides", json=cover, headers=key("a-manager")), 422
    )
    assert error["field"] == "end"
    cover = {"user_id": outsider["id"], "start": "2026-01-06T10:00:00Z", "end": "2026-01-06T12:00:00Z"}
    error = assert_error_shape(
        await svc.client.post(f"/schedules/{sid}/overrides", json=cover, headers=key("a-manager")), 422
    )
    assert error["field"] == "user_id"
    for params, field in (
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-04-02T00:00:00Z"}, "to"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
        ({"from": "9999-12-30T00:00:00Z"}, "from"),
        ({"since": "2026-01-01T00:00:00Z"}, "since"),
    ):
        error = assert_error_shape(
            await svc.client.get(f"/schedules/{sid}/shifts", params=params, headers=key("a-reader")), 422
        )
        assert error["field"] == field, (params, error)
    ninety = {"from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    await ok(await svc.client.get(f"/schedules/{sid}/shifts", params=ninety, headers=key("a-reader")))


async def test_changing_a_schedule_replaces_its_layers(svc: Service) -> None:
    alice, bob = await user(svc, "alice"), await user(svc, "bob")
    sid = (await schedule(svc, layers=[{**WEEK, "participants": [alice["id"]]}]))["id"]
    office = {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}
    top = {**WEEK, "name": "office", "participants": [bob["id"]], "restrictions": [office]}
    changed = await ok(
        await svc.client.patch(
            f"/schedules/{sid}",
            json={"description": "payments", "layers": [{**WEEK, "participants": [alice["id"]]}, top]},
            headers=key("a-manager"),
        )
    )
    assert [layer["name"] for layer in changed["layers"]] == ["layer-1", "office"]
    assert changed["description"] == "payments" and changed["name"] == "primary"
    shifts = await ok(
        await svc.client.get(
            f"/schedules/{sid}/shifts",
            params={"from": "2026-01-09T00:00:00Z", "to": "2026-01-12T00:00:00Z"},
            headers=key("a-reader"),
        )
    )
    # Friday 9 January: bob 09:00-18:00 Berlin (08:00-17:00 UTC), alice the rest and the weekend.
    assert [(s["user"]["name"], s["start"], s["end"]) for s in shifts["shifts"]] == [
        ("alice", "2026-01-09T00:00:00Z", "2026-01-09T08:00:00Z"),
        ("bob", "2026-01-09T08:00:00Z", "2026-01-09T17:00:00Z"),
        ("alice", "2026-01-09T17:00:00Z", "2026-01-12T00:00:00Z"),
    ]
    # alice is a participant: she can be neither deleted nor taken out of the team.
    error = assert_error_shape(
        await svc.client.delete(f"/users/{alice['id']}", headers=key("a-manager")), 409
    )
    assert "primary" in str(error["message"])
    error = assert_error_shape(
        await svc.client.patch(f"/users/{alice['id']}", json={"teams": ["b"]}, headers=key("all-manager")),
        409,
    )
    assert error["field"] == "teams"
    await ok(await svc.client.delete(f"/schedules/{sid}", headers=key("a-manager")))
    assert_error_shape(await svc.client.get(f"/schedules/{sid}", headers=key("a-reader")), 404)
    await ok(await svc.client.delete(f"/users/{alice['id']}", headers=key("a-manager")))


async def test_a_team_sees_and_manages_only_its_own(svc: Service) -> None:
    alice = await user(svc, "alice")
    zed = await user(svc, "zed", who="b-manager")
    a_schedule = await schedule(svc, layers=[{**WEEK, "participants": [alice["id"]]}])
    b_schedule = await schedule(svc, who="b-manager", layers=[{**WEEK, "participants": [zed["id"]]}])
    assert b_schedule["team"] == "b" and b_schedule["name"] == a_schedule["name"]  # names are per team

    for path in (f"/users/{zed['id']}", f"/schedules/{b_schedule['id']}", f"/schedules/{b_schedule['id']}/oncall",
                 f"/schedules/{b_schedule['id']}/shifts", f"/schedules/{b_schedule['id']}/overrides"):  # fmt: skip
        assert_error_shape(await svc.client.get(path, headers=key("a-reader")), 404)
    assert_error_shape(
        await svc.client.patch(f"/users/{zed['id']}", json={"full_name": "Z"}, headers=key("a-manager")), 404
    )
    assert_error_shape(
        await svc.client.delete(f"/schedules/{b_schedule['id']}", headers=key("a-manager")), 404
    )
    cover = {"user_id": alice["id"], "start": "2026-01-06T10:00:00Z", "end": "2026-01-06T12:00:00Z"}
    assert_error_shape(
        await svc.client.post(
            f"/schedules/{b_schedule['id']}/overrides", json=cover, headers=key("a-manager")
        ),
        404,
    )
    assert [u["name"] for u in await ok(await svc.client.get("/users", headers=key("a-reader")))] == ["alice"]
    assert [s["team"] for s in await ok(await svc.client.get("/schedules", headers=key("a-reader")))] == ["a"]
    error = assert_error_shape(
        await svc.client.get("/schedules", params={"team": "b"}, headers=key("a-reader")), 403
    )
    assert error["field"] == "team"
    error = assert_error_shape(
        await svc.client.post(
            "/schedules", json={"name": "x", "time_zone": "UTC", "team": "b"}, headers=key("a-manager")
        ),
        403,
    )
    assert error["field"] == "team"
    error = assert_error_shape(
        await svc.client.patch(f"/users/{alice['id']}", json={"teams": ["a", "b"]}, headers=key("a-manager")),
        403,
    )
    assert error["field"] == "teams"

    # Every team: admin and a key of team "*".
    for who in ("admin", "all-manager"):
        assert {s["team"] for s in await ok(await svc.client.get("/schedules", headers=key(who)))} == {
            "a",
            "b",
        }
        assert (await ok(await svc.client.get(f"/schedules/{b_schedule['id']}/oncall", headers=key(who))))[
            "user"
        ]["name"] == "zed"
    both = await ok(
        await svc.client.patch(
            f"/users/{alice['id']}", json={"teams": ["a", "b"]}, headers=key("all-manager")
        )
    )
    assert both["teams"] == ["a", "b"]
    assert [u["name"] for u in await ok(await svc.client.get("/users", headers=key("b-manager")))] == [
        "alice",
        "zed",
    ]
    # A member of two teams is not deleted by one of them.
    error = assert_error_shape(
        await svc.client.delete(f"/users/{alice['id']}", headers=key("b-manager")), 409
    )
    assert error["field"] == "teams"
    made = await ok(
        await svc.client.post(
            "/schedules", json={"name": "b-two", "time_zone": "UTC", "team": "b"}, headers=key("all-manager")
        ),
        201,
    )
    assert made["team"] == "b"


async def test_who_is_on_call_in_many_schedules_at_once_is_what_each_answers(svc: Service) -> None:
    # The console's list asks for every schedule together (services/oncall/schedules.py oncall_of).
    alice, bob = await user(svc, "alice"), await user(svc, "bob")
    weekly = (await schedule(svc, name="weekly", layers=[{**WEEK, "participants": [alice["id"]]}]))["id"]
    covered = (await schedule(svc, name="covered", layers=[{**WEEK, "participants": [alice["id"]]}]))["id"]
    empty = (await schedule(svc, name="empty", layers=[]))["id"]
    cover = {"user_id": bob["id"], "start": "2026-01-06T09:00:00Z", "end": "2026-01-06T11:00:00Z"}
    await ok(
        await svc.client.post(f"/schedules/{covered}/overrides", json=cover, headers=key("a-manager")), 201
    )
    at = datetime(2026, 1, 6, 10, tzinfo=UTC)
    ids = [weekly, covered, empty]
    async with svc.app.state.sessionmaker() as session:
        rows = [await schedules.get(session, schedule_id=uuid.UUID(i), team="a") for i in ids]
        together = await schedules.oncall_of(session, rows, at=at)
    each = [
        await ok(
            await svc.client.get(
                f"/schedules/{i}/oncall", params={"at": at.isoformat()}, headers=key("a-reader")
            )
        )
        for i in ids
    ]
    assert [answer.model_dump(mode="json") for answer in together] == each
    assert [None if a["user"] is None else a["user"]["name"] for a in each] == ["alice", "bob", None]
