"""A team's on-call configuration as one TOML document, over HTTP, on both
databases: GET /oncall/export and POST /oncall/import. The round trip is
byte for byte; an import replaces the team's configuration (ids kept for
what stays), checks everything first (422 naming the path in the
document), writes nothing on a dry run, and keeps to the key's team; the
next submission is routed by what it imported.
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.api.auth import hash_key
from app.models import EscalationPolicy, Route, ScheduleOverride
from app.oncall_document import OncallDocument
from app.oncall_toml import dumps
from tests.api.test_errors import assert_error_shape
from tests.conftest import Service, ServiceFactory, truncate
from tests.docs.blocks import all_blocks

KEYS = {
    "a-manager": (["oncall:manage", "read"], "a"),
    "a-reader": (["read"], "a"),
    "a-writer": (["alerts:write", "read"], "a"),
    "b-manager": (["oncall:manage", "read"], "b"),
    "all-manager": (["oncall:manage", "read"], "*"),
}
CHANNELS = {"hooks": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}}
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
    async with service_factory(api_keys=keys, channels=CHANNELS) as service:
        yield service


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return (
        response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    )


async def post(svc: Service, path: str, body: dict[str, Any], who: str = "all-manager") -> dict[str, Any]:
    made: dict[str, Any] = ok(await svc.client.post(path, json=body, headers=key(who)), 201)
    return made


async def export(svc: Service, team: str | None = "a", who: str = "all-manager") -> str:
    answer = await svc.client.get("/oncall/export", params={"team": team} if team else {}, headers=key(who))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/toml")
    return answer.text


async def import_(
    svc: Service, document: str | bytes, who: str = "all-manager", *, dry_run: bool = False
) -> httpx.Response:
    return await svc.client.post(
        "/oncall/import",
        content=document.encode() if isinstance(document, str) else document,
        params={"dry_run": "true"} if dry_run else {},
        headers={**key(who), "Content-Type": "application/toml"},
    )


async def add_policy(
    svc: Service, team: str, name: str, steps: list[dict[str, Any]], **more: Any
) -> uuid.UUID:
    now = svc.clock()
    policy = EscalationPolicy(
        id=uuid.uuid4(), team=team, name=name, steps=steps, created_at=now, updated_at=now, **more
    )
    async with svc.app.state.sessionmaker() as session, session.begin():
        session.add(policy)
    return policy.id


async def add_route(svc: Service, team: str, name: str, position: int, **more: Any) -> uuid.UUID:
    now = svc.clock()
    route = Route(
        id=uuid.uuid4(),
        team=team,
        name=name,
        position=position,
        created_at=now,
        updated_at=now,
        **{"matchers": [], "channels": [], "continue_matching": False, **more},
    )
    async with svc.app.state.sessionmaker() as session, session.begin():
        session.add(route)
    return route.id


async def rows(svc: Service) -> dict[str, Any]:
    """Every id and updated_at of team a's configuration, to see what an import touched."""
    users = ok(await svc.client.get("/users", params={"team": "a"}, headers=key("all-manager")))
    schedules = ok(await svc.client.get("/schedules", params={"team": "a"}, headers=key("all-manager")))
    async with svc.app.state.sessionmaker() as session:
        policies = list(await session.scalars(select(EscalationPolicy).where(EscalationPolicy.team == "a")))
        routes = list(await session.scalars(select(Route).where(Route.team == "a")))
        overrides = list(await session.scalars(select(ScheduleOverride)))
    return {
        "users": {u["name"]: (u["id"], u["updated_at"], u["teams"]) for u in users},
        "schedules": {s["name"]: (s["id"], s["updated_at"]) for s in schedules},
        "policies": {p.name: (p.id, p.updated_at) for p in policies},
        "routes": {r.name: (r.id, r.updated_at, r.position) for r in routes},
        "overrides": sorted((o.id, o.created_at) for o in overrides),
    }


async def team_a(svc: Service) -> dict[str, Any]:
    """Team a: two users, a weekly rotation with an override, a policy and two routes."""
    alice = await post(
        svc,
        "/users",
        {
            "name": "alice",
            "full_name": "Alice Example",
            "time_zone": "Europe/Berlin",
            "teams": ["a"],
            "contact_methods": [
                {"type": "email", "address": "alice@example.com"},
                {"type": "sms", "address": "+4915112345678"},
            ],
        },
    )
    bob = await post(svc, "/users", {"name": "bob", "teams": ["a"]})
    layer = {
        "name": "weekly",
        "participants": [alice["id"], bob["id"]],
        **WEEK,
        "restrictions": [{"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
    }
    primary = await post(
        svc,
        "/schedules",
        {
            "name": "primary",
            "team": "a",
            "time_zone": "Europe/Berlin",
            "description": "Payments\nday",
            "layers": [layer],
        },
    )
    await post(
        svc,
        f"/schedules/{primary['id']}/overrides",
        {
            "user_id": bob["id"],
            "start": "2026-01-10T08:00:00Z",
            "end": "2026-01-11T08:00:00Z",
            "note": "swap",
        },
    )
    policy = await add_policy(
        svc,
        "a",
        "urgent",
        [
            {"after_minutes": 0.0, "notify": ["schedule:primary"]},
            {"after_minutes": 12.5, "notify": ["user:alice", "hooks"]},
        ],
        repeat_last_step=2,
        repeat_every_minutes=15.0,
        description="Wake someone",
    )
    await add_route(
        svc,
        "a",
        "critical",
        0,
        matchers=[{"name": "severity", "value": "critical", "is_regex": False}],
        escalation_policy_id=policy,
        channels=["hooks"],
        continue_matching=True,
    )
    await add_route(
        svc, "a", "databases", 1, matchers=[{"name": "labels.service", "value": "db-.*", "is_regex": True}]
    )
    return {"alice": alice, "bob": bob, "primary": primary, "policy": policy}


EXPECTED = """\
team = "a"

[[users]]
name = "alice"
full_name = "Alice Example"
time_zone = "Europe/Berlin"
contact_methods = [{type = "email", address = "alice@example.com"}, {type = "sms", address = "+4915112345678"}]

[[users]]
name = "bob"
time_zone = "UTC"
contact_methods = []

[[schedules]]
name = "primary"
description = "Payments\\nday"
time_zone = "Europe/Berlin"

[[schedules.layers]]
name = "weekly"
participants = ["alice", "bob"]
shift_unit = "weeks"
shift_length = 1
handoff_time = "09:00"
start_date = 2026-01-05
restrictions = [{weekdays = ["mon", "tue", "wed", "thu", "fri"], start = "08:00", end = "20:00"}]

[[schedules.overrides]]
user = "bob"
start = 2026-01-10T08:00:00Z
end = 2026-01-11T08:00:00Z
note = "swap"

[[escalation_policies]]
name = "urgent"
description = "Wake someone"
repeat_last_step = 2
repeat_every_minutes = 15

[[escalation_policies.steps]]
after_minutes = 0
notify = ["schedule:primary"]

[[escalation_policies.steps]]
after_minutes = 12.5
notify = ["user:alice", "hooks"]

[[routes]]
name = "critical"
matchers = [{name = "severity", value = "critical", is_regex = false}]
escalation_policy = "urgent"
channels = ["hooks"]
continue = true

[[routes]]
name = "databases"
matchers = [{name = "labels.service", value = "db-.*", is_regex = true}]
channels = []
continue = false
"""


async def test_export_import_export_is_byte_for_byte_and_changes_nothing(svc: Service) -> None:
    await team_a(svc)
    exported = await export(svc)
    assert exported == EXPECTED
    assert tomllib.loads(exported)["team"] == "a"

    # Into the same database: nothing changes, not an id, not an updated_at.
    before = await rows(svc)
    svc.clock.advance(minutes=5)
    same = ok(await import_(svc, exported))
    assert same["changed"] is False and same["dry_run"] is False
    assert all(
        not names
        for kind in ("users", "schedules", "escalation_policies", "routes")
        for names in same[kind].values()
    )
    assert same["overrides"] == {"created": 0, "deleted": 0}
    assert await rows(svc) == before
    assert await export(svc) == exported

    # Into an empty database: everything is made, and exports the same bytes.
    await truncate(svc.settings.database_url)
    made = ok(await import_(svc, exported, "a-manager"))
    assert made["changed"] is True
    assert (made["users"]["created"], made["schedules"]["created"]) == (["alice", "bob"], ["primary"])
    assert (made["escalation_policies"]["created"], made["routes"]["created"]) == (
        ["urgent"],
        ["critical", "databases"],
    )
    assert made["overrides"] == {"created": 1, "deleted": 0}
    assert await export(svc) == exported
    # The import made real rows: who is on call reads them (bob's override on Saturday).
    [primary] = ok(await svc.client.get("/schedules", headers=key("a-reader")))
    oncall = ok(
        await svc.client.get(
            f"/schedules/{primary['id']}/oncall",
            params={"at": "2026-01-10T12:00:00Z"},
            headers=key("a-reader"),
        )
    )
    assert oncall["user"]["name"] == "bob"
    async with svc.app.state.sessionmaker() as session:
        [critical] = await session.scalars(select(Route).where(Route.name == "critical"))
        [urgent] = await session.scalars(select(EscalationPolicy))
    assert critical.escalation_policy_id == urgent.id and critical.continue_matching is True
    assert urgent.steps[1] == {"after_minutes": 12.5, "notify": ["user:alice", "hooks"]}


async def test_an_import_replaces_the_team_configuration_in_place(svc: Service) -> None:
    made = await team_a(svc)
    carol = await post(svc, "/users", {"name": "carol", "teams": ["a"]})
    bob_b = await svc.client.patch(
        f"/users/{made['bob']['id']}", json={"teams": ["a", "b"]}, headers=key("all-manager")
    )
    ok(bob_b)
    await post(svc, "/schedules", {"name": "old", "team": "a", "time_zone": "UTC"})
    before = await rows(svc)
    document = tomllib.loads(await export(svc))

    svc.clock.advance(minutes=1)
    replaced = (
        EXPECTED.split("\n[[escalation_policies]]")[0]
        .replace('participants = ["alice", "bob"]', 'participants = ["alice", "dave"]')
        .replace('user = "bob"', 'user = "dave"')
    )
    replaced = replaced.replace(
        '[[users]]\nname = "bob"\ntime_zone = "UTC"', '[[users]]\nname = "dave"\ntime_zone = "UTC"'
    )
    replaced += '\n[[routes]]\nname = "databases"\nchannels = ["hooks"]\n'
    assert [s["name"] for s in document["schedules"]] == ["old", "primary"]  # by name
    answer = ok(await import_(svc, replaced, "a-manager"))
    assert answer["users"] == {
        "created": ["dave"],
        "updated": [],
        "deleted": ["carol"],
        "joined": [],
        "left": ["bob"],
    }
    assert answer["schedules"] == {"created": [], "updated": ["primary"], "deleted": ["old"]}
    assert answer["overrides"] == {"created": 1, "deleted": 1}
    assert answer["escalation_policies"] == {"created": [], "updated": [], "deleted": ["urgent"]}
    assert answer["routes"] == {"created": [], "updated": ["databases"], "deleted": ["critical"]}

    after = await rows(svc)
    assert set(after["users"]) == {"alice", "dave"}
    assert after["users"]["alice"] == before["users"]["alice"]  # untouched
    assert after["schedules"]["primary"][0] == before["schedules"]["primary"][0]  # same id
    assert after["routes"]["databases"][0] == before["routes"]["databases"][0]
    assert (after["routes"]["databases"][2], after["policies"]) == (0, {})
    # bob left team a and stays in b; carol, in no team any more, is gone.
    bob = ok(await svc.client.get(f"/users/{made['bob']['id']}", headers=key("all-manager")))
    assert bob["teams"] == ["b"]
    assert_error_shape(await svc.client.get(f"/users/{carol['id']}", headers=key("all-manager")), 404)
    assert await export(svc) == replaced.replace(
        'channels = ["hooks"]\n', 'matchers = []\nchannels = ["hooks"]\ncontinue = false\n'
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            ('participants = ["alice", "bob"]', 'participants = ["alice", "zed"]'),
            "schedules.0.layers.0.participants.1",
        ),
        (('user = "bob"', 'user = "zed"'), "schedules.0.overrides.0.user"),
        (('escalation_policy = "urgent"', 'escalation_policy = "nonesuch"'), "routes.0.escalation_policy"),
        (('channels = ["hooks"]', 'channels = ["pager"]'), "routes.0.channels.0"),
        (
            ('notify = ["schedule:primary"]', 'notify = ["schedule:nonesuch"]'),
            "escalation_policies.0.steps.0.notify.0",
        ),
        (
            ('notify = ["user:alice", "hooks"]', 'notify = ["user:alice", "pager"]'),
            "escalation_policies.0.steps.1.notify.1",
        ),
        (('time_zone = "UTC"', 'time_zone = "Mars/Olympus"'), "users.1.time_zone"),
        (('name = "bob"', 'name = "alice"'), "users.1.name"),
        (("shift_length = 1", "shift_length = 0"), "schedules.0.layers.0.shift_length"),
        (('end = "20:00"', 'end = "07:00"'), "schedules.0.layers.0.restrictions.0.end"),
        (
            ("start = 2026-01-10T08:00:00Z", "start = 2026-01-10T08:00:00"),
            "schedules.0.overrides.0.start",
        ),
        (('value = "db-.*"', 'value = "(a)\\\\1"'), "routes.1.matchers.0.value"),
        (('value = "db-.*"', 'value = "' + "a" * 257 + '"'), "routes.1.matchers.0.value"),  # over the limit
        (
            (
                'matchers = [{name = "labels.service"',
                "matchers = [" + '{name = "source", value = "x"}, ' * 32 + '{name = "labels.service"',
            ),
            "routes.1.matchers",  # 33: over silence_max_matchers
        ),
        (("continue = false", 'continue = false\ncolor = "red"'), "routes.1.color"),
        (("repeat_every_minutes = 15\n", ""), "escalation_policies.0.repeat_every_minutes"),
        (("after_minutes = 12.5", "after_minutes = -1"), "escalation_policies.0.steps.1.after_minutes"),
        (('name = "databases"', 'name = "critical"'), "routes.1.name"),
        (('team = "a"', 'team = "a b"'), "team"),
    ],
)
async def test_a_bad_document_is_a_422_naming_its_path_and_writes_nothing(
    svc: Service, change: tuple[str, str], field: str
) -> None:
    old, new = change
    assert old in EXPECTED
    answer = await import_(svc, EXPECTED.replace(old, new, 1))
    assert_error_shape(answer, 422)
    assert answer.json()["field"] == field, answer.json()
    assert await export(svc) == 'team = "a"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'team = "a"\n[[users]\n', "not valid TOML"),
        (b"team = \xff", "not UTF-8"),
        (b"", "team"),
        (b"a = " + b"[" * 5000 + b"]" * 5000, "not valid TOML"),
    ],
)
async def test_a_body_that_is_no_document_is_a_422(svc: Service, body: bytes, message: str) -> None:
    answer = await import_(svc, body)
    assert_error_shape(answer, 422)
    assert message in answer.text


async def test_a_body_over_the_limit_is_a_413(svc: Service) -> None:
    huge = 'team = "a"\n' + "# padding\n" * (svc.settings.max_body_bytes // 10 + 1)
    assert_error_shape(await import_(svc, huge), 413)


async def test_a_key_of_one_team_exports_and_imports_its_own_team_only(svc: Service) -> None:
    await team_a(svc)
    ok(await import_(svc, 'team = "b"\n[[users]]\nname = "bea"\n', "b-manager"))
    mine = await export(svc, team=None, who="a-reader")
    assert mine == EXPECTED
    assert_error_shape(
        await svc.client.get("/oncall/export", params={"team": "b"}, headers=key("a-reader")), 403
    )
    refused = await import_(svc, 'team = "b"\n', "a-manager")
    assert_error_shape(refused, 403)
    assert refused.json()["field"] == "team"
    assert_error_shape(await import_(svc, EXPECTED, "a-reader"), 403)  # no oncall:manage
    # Nor does it take in a user of team b, or change her.
    taking = await import_(svc, 'team = "a"\n[[users]]\nname = "bea"\nfull_name = "Taken"\n', "a-manager")
    assert_error_shape(taking, 403)
    assert taking.json()["field"] == "users.0.name"
    assert 'name = "bea"\ntime_zone' in await export(svc, "b")
    assert await export(svc) == EXPECTED
    # A key of every team may: bea joins team a too.
    joined = ok(await import_(svc, 'team = "a"\n[[users]]\nname = "bea"\n'))
    assert joined["users"]["joined"] == ["bea"] and joined["users"]["deleted"] == ["alice", "bob"]
    assert joined["schedules"]["deleted"] == ["primary"]
    assert 'name = "bea"' in await export(svc, "b")


async def test_a_dry_run_answers_the_changes_and_writes_nothing(svc: Service) -> None:
    await team_a(svc)
    before = await rows(svc)
    changed = (
        EXPECTED.replace('full_name = "Alice Example"', 'full_name = "Alice E."').replace(
            "after_minutes = 12.5", "after_minutes = 20"
        )
        + '\n[[routes]]\nname = "rest"\n'
    )
    dry = ok(await import_(svc, changed, dry_run=True))
    assert dry["dry_run"] is True and dry["changed"] is True
    assert (dry["users"]["updated"], dry["escalation_policies"]["updated"], dry["routes"]["created"]) == (
        ["alice"],
        ["urgent"],
        ["rest"],
    )
    assert await rows(svc) == before
    assert await export(svc) == EXPECTED
    done = ok(await import_(svc, changed))
    assert {**done, "dry_run": True} == dry
    assert await export(svc) == changed.replace(
        'name = "rest"\n', 'name = "rest"\nmatchers = []\nchannels = []\ncontinue = false\n'
    )


async def test_a_member_another_team_still_needs_stays_there_or_stops_the_import(svc: Service) -> None:
    made = await team_a(svc)
    # bob is in teams a and b, and b's schedule names him: leaving a, he stays in b.
    ok(
        await svc.client.patch(
            f"/users/{made['bob']['id']}", json={"teams": ["a", "b"]}, headers=key("all-manager")
        )
    )
    await post(
        svc,
        "/schedules",
        {
            "name": "b-primary",
            "team": "b",
            "time_zone": "UTC",
            "layers": [{"participants": [made["bob"]["id"]], **WEEK}],
        },
    )
    # carol is in team a only, yet team b's policy pages her by name.
    await post(svc, "/users", {"name": "carol", "teams": ["a"]})
    await add_policy(svc, "b", "b-urgent", [{"after_minutes": 0, "notify": ["user:carol"]}])
    without = (
        EXPECTED.replace('participants = ["alice", "bob"]', 'participants = ["alice"]')
        .replace(
            '[[schedules.overrides]]\nuser = "bob"\nstart = 2026-01-10T08:00:00Z\nend = 2026-01-11T08:00:00Z\nnote = "swap"\n\n',
            "",
        )
        .replace('[[users]]\nname = "bob"\ntime_zone = "UTC"\ncontact_methods = []\n\n', "")
    )

    refused = await import_(svc, without, "a-manager")
    assert_error_shape(refused, 409)
    assert "'carol'" in refused.json()["message"] and "b-urgent" in refused.json()["message"]
    assert 'name = "carol"' in await export(svc)  # nothing written

    kept = without.replace(
        "[[schedules]]", '[[users]]\nname = "carol"\ntime_zone = "UTC"\ncontact_methods = []\n\n[[schedules]]'
    )
    answer = ok(await import_(svc, kept, "a-manager"))
    assert answer["users"]["left"] == ["bob"] and answer["users"]["deleted"] == []
    bob = ok(await svc.client.get(f"/users/{made['bob']['id']}", headers=key("all-manager")))
    assert bob["teams"] == ["b"]
    b_schedule = ok(await svc.client.get("/schedules", params={"team": "b"}, headers=key("all-manager")))
    assert b_schedule[0]["layers"][0]["participants"] == [made["bob"]["id"]]


def test_the_documented_example_is_written_as_an_export_writes_it() -> None:
    [block] = [b for b in all_blocks() if b.path.name == "oncall.md" and "<<'EOF'" in b.text]
    document = block.text.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0] + "\n"
    assert dumps(OncallDocument.model_validate(tomllib.loads(document))) == document


OVERLAP = """\
team = "a"

[[users]]
name = "ann"
time_zone = "UTC"
contact_methods = []

[[users]]
name = "ola"
time_zone = "UTC"
contact_methods = []

[[schedules]]
name = "cover"
time_zone = "UTC"

[[schedules.overrides]]
user = "ann"
start = 2026-01-06T00:00:00Z
end = 2026-01-08T00:00:00Z

[[schedules.overrides]]
user = "ola"
start = 2026-01-07T00:00:00Z
end = 2026-01-09T00:00:00Z
"""


async def test_overrides_keep_their_order_the_later_wins_and_ended_ones_are_skipped(svc: Service) -> None:
    async def on_call() -> str:
        [cover] = ok(await svc.client.get("/schedules", params={"team": "a"}, headers=key("all-manager")))
        answer = ok(
            await svc.client.get(
                f"/schedules/{cover['id']}/oncall",
                params={"at": "2026-01-07T12:00:00Z"},
                headers=key("a-reader"),
            )
        )
        return str(answer["user"]["name"])

    past = (
        '\n[[schedules.overrides]]\nuser = "ann"\nstart = 2026-01-01T00:00:00Z\nend = 2026-01-02T00:00:00Z\n'
    )
    made = ok(await import_(svc, OVERLAP + past))
    assert made["overrides"] == {"created": 2, "deleted": 0}  # the one that has ended is history
    assert await on_call() == "ola"
    assert await export(svc) == OVERLAP

    first, second = OVERLAP.split("\n[[schedules.overrides]]\n")[1:]
    swapped = (
        OVERLAP.split("\n[[schedules.overrides]]\n")[0]
        + f"\n[[schedules.overrides]]\n{second}\n[[schedules.overrides]]\n{first}"
    )
    answer = ok(await import_(svc, swapped))
    assert answer["overrides"] == {"created": 2, "deleted": 2} and answer["schedules"]["updated"] == []
    assert await on_call() == "ann"
    assert await export(svc) == swapped


async def test_a_stored_row_the_document_refuses_is_exported_and_named_on_import(svc: Service) -> None:
    # Written by another writer with rules of its own: exported as it is, never a 500.
    await add_route(svc, "a", "needs review", 0)
    exported = await export(svc)
    assert 'name = "needs review"' in exported
    refused = await import_(svc, exported)
    assert_error_shape(refused, 422)
    assert refused.json()["field"] == "routes.0.name"


async def test_an_imported_route_routes_the_next_alert_at_once(svc: Service) -> None:
    document = (
        'team = "a"\n\n'
        "[[escalation_policies]]\n"
        'name = "urgent"\n\n'
        "[[escalation_policies.steps]]\n"
        "after_minutes = 0\n"
        'notify = ["hooks"]\n\n'
        "[[routes]]\n"
        'name = "db"\n'
        'matchers = [{name = "labels.service", value = "db-.*", is_regex = true}]\n'
        'escalation_policy = "urgent"\n'
        'channels = ["hooks"]\n'
    )
    ok(await import_(svc, document))
    alert = {"alert_type": "lag", "severity": "high", "message": "m", "source": "s"}
    routed = ok(
        await svc.client.post(
            "/alerts", json={**alert, "labels": {"service": "db-1"}}, headers=key("a-writer")
        ),
        201,
    )
    unrouted = ok(await svc.client.post("/alerts", json=alert, headers=key("a-writer")), 201)
    async with svc.app.state.sessionmaker() as session:
        urgent = await session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == "urgent"))
    assert urgent is not None and routed["escalation_policy_id"] == str(urgent)
    assert routed["channels"] == ["hooks"]
    assert unrouted["escalation_policy_id"] is None
