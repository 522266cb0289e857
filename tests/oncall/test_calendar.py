"""The calendar feeds of a schedule and of a user: a link made with
`oncall:manage`, read by a calendar app with its token and no key, parsed
here with the icalendar library as an app would; a new link revokes the old
one; a forged token is a 404."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from icalendar import Calendar
from itsdangerous import URLSafeSerializer

from app.api.auth import hash_key
from app.services.oncall.calendar import SALT
from tests.api.test_errors import assert_error_shape
from tests.conftest import Service, ServiceFactory

MANAGER, READER, OTHER = "cal-manager-key-0123456789", "cal-reader-key-0123456789", "cal-other-key-0123456789"
ADMIN = "cal-admin-key-0123456789"
KEYS = [
    {"name": "manager", "hash": hash_key(MANAGER), "scopes": ["oncall:manage", "read"], "team": "a"},
    {"name": "reader", "hash": hash_key(READER), "scopes": ["read"], "team": "a"},
    {"name": "other", "hash": hash_key(OTHER), "scopes": ["oncall:manage", "read"], "team": "b"},
    {"name": "admin", "hash": hash_key(ADMIN), "scopes": ["admin"]},
]


def key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def svc(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory(api_keys=KEYS, public_url="https://alerts.example.com/") as service:
        yield service


async def _schedule(client: httpx.AsyncClient) -> str:
    made = await client.post(
        "/users", json={"name": "alice", "full_name": "Alice Example"}, headers=key(MANAGER)
    )
    alice = made.json()["id"]
    made = await client.post("/users", json={"name": "bob"}, headers=key(MANAGER))
    bob = made.json()["id"]
    layer = {"participants": [alice, bob], "shift_unit": "days", "shift_length": 1, "handoff_time": "09:00",
             "start_date": "2026-01-01"}  # fmt: skip
    body = {"name": "primary", "time_zone": "Europe/Berlin", "layers": [layer]}
    made = await client.post("/schedules", json=body, headers=key(MANAGER))
    assert made.status_code == 201, made.text
    schedule_id: str = made.json()["id"]
    return schedule_id


def _local(url: str) -> str:
    return url.removeprefix("https://alerts.example.com")


async def test_a_calendar_app_reads_the_shifts_with_the_link_alone(svc: Service) -> None:
    sid = await _schedule(svc.client)
    assert_error_shape(await svc.client.get(f"/schedules/{sid}/calendar-link", headers=key(READER)), 404)
    made = await svc.client.post(f"/schedules/{sid}/calendar-link", headers=key(MANAGER))
    assert made.status_code == 200, made.text
    url = made.json()["url"]
    assert url.startswith(f"https://alerts.example.com/schedules/{sid}/calendar.ics?token=")
    assert (await svc.client.get(f"/schedules/{sid}/calendar-link", headers=key(READER))).json()["url"] == url

    feed = await svc.client.get(_local(url))  # no key
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(feed.content)
    assert str(calendar["X-WR-CALNAME"]) == "On call: primary (a)"
    events = sorted(calendar.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    # The clock: 5 January 2026, 09:00 UTC; the feed runs from a week before to twelve weeks after.
    starts = [e.decoded("dtstart") for e in events]
    assert starts[0] == datetime(2026, 1, 1, 8, tzinfo=UTC)  # the first shift, 09:00 CET
    assert starts[1] == datetime(2026, 1, 2, 8, tzinfo=UTC)
    assert events[-1].decoded("dtend") == datetime(2026, 3, 29, 9, tzinfo=UTC)
    assert [str(e["summary"]) for e in events[:2]] == ["On call: Alice Example", "On call: bob"]
    assert len({str(e["uid"]) for e in events}) == len(events)
    # The feed answers what GET /shifts answers.
    shifts = await svc.client.get(
        f"/schedules/{sid}/shifts",
        params={"from": "2025-12-29T09:00:00Z", "to": "2026-03-29T09:00:00Z"},
        headers=key(READER),
    )
    assert [s["start"] for s in shifts.json()["shifts"]] == [
        s.isoformat().replace("+00:00", "Z") for s in starts
    ]


async def test_a_new_link_revokes_the_old_and_forgeries_are_404(svc: Service) -> None:
    sid = await _schedule(svc.client)
    old = (await svc.client.post(f"/schedules/{sid}/calendar-link", headers=key(MANAGER))).json()["url"]
    new = (await svc.client.post(f"/schedules/{sid}/calendar-link", headers=key(MANAGER))).json()["url"]
    assert old != new
    assert_error_shape(await svc.client.get(_local(old)), 404)
    assert (await svc.client.get(_local(new))).status_code == 200
    token = new.partition("token=")[2]
    wrong_secret = URLSafeSerializer("not-the-secret", salt=SALT).dumps([sid, "any-key"])
    for forged in (token[:-2] + "xx", "not-a-token", wrong_secret):
        error = assert_error_shape(
            await svc.client.get(f"/schedules/{sid}/calendar.ics", params={"token": forged}), 404
        )
        assert error["field"] == "token"
    # A valid token for another schedule's path.
    other = "00000000-0000-0000-0000-000000000000"
    assert_error_shape(await svc.client.get(f"/schedules/{other}/calendar.ics", params={"token": token}), 404)
    assert_error_shape(await svc.client.get(f"/schedules/{sid}/calendar.ics"), 422)
    # Another team's key makes no link for this schedule, and a reader none at all.
    assert_error_shape(await svc.client.post(f"/schedules/{sid}/calendar-link", headers=key(OTHER)), 404)
    assert_error_shape(await svc.client.post(f"/schedules/{sid}/calendar-link", headers=key(READER)), 403)
    # Deleting the schedule ends its feed.
    assert (await svc.client.delete(f"/schedules/{sid}", headers=key(MANAGER))).status_code == 200
    assert_error_shape(await svc.client.get(_local(new)), 404)


async def test_the_feed_is_logged_and_rate_limited_under_its_link(
    service_factory: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with service_factory(api_keys=KEYS, rate_limit_per_minute=1, rate_limit_burst=10) as svc:
        sid = await _schedule(svc.client)
        url = (await svc.client.post(f"/schedules/{sid}/calendar-link", headers=key(MANAGER))).json()["url"]
        caplog.set_level(logging.INFO, logger="app.access")
        answers = [
            (await svc.client.get(url.removeprefix(svc.settings.public_url.rstrip("/")))).status_code
            for _ in range(11)
        ]
        assert answers == [200] * 10 + [429]
        names = {r.__dict__["key_name"] for r in caplog.records if r.name == "app.access"}
        assert "calendar-link:a/primary" in names


# --- a person's own feed -------------------------------------------------------


async def _two_teams(client: httpx.AsyncClient) -> dict[str, str]:
    """alice in teams a and b: a's `primary` (daily with bob, an override of
    alice's over one of bob's days) and b's `backend` (weekly, alice alone);
    bob's schedule of team a is in neither of alice's feeds."""
    ids = {"primary": await _schedule(client)}
    listed = (await client.get("/users", headers=key(MANAGER))).json()
    ids |= {u["name"]: u["id"] for u in listed}
    made = await client.patch(f"/users/{ids['alice']}", json={"teams": ["a", "b"]}, headers=key(ADMIN))
    assert made.status_code == 200, made.text
    cover = {"user_id": ids["alice"], "start": "2026-01-06T10:00:00Z", "end": "2026-01-06T12:00:00Z"}
    made = await client.post(f"/schedules/{ids['primary']}/overrides", json=cover, headers=key(MANAGER))
    assert made.status_code == 201, made.text
    layer = {"participants": [ids["alice"]], "shift_unit": "weeks", "shift_length": 1, "handoff_time": "00:00",
             "start_date": "2026-03-02"}  # fmt: skip
    body = {"name": "backend", "time_zone": "UTC", "layers": [layer]}
    made = await client.post("/schedules", json=body, headers=key(OTHER))
    assert made.status_code == 201, made.text
    ids["backend"] = made.json()["id"]
    return ids


def _events(feed: httpx.Response) -> list[tuple[datetime, datetime, str]]:
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(feed.content)
    assert str(calendar["X-WR-CALNAME"]) == "On call: Alice Example"
    events = [(e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"])) for e in calendar.walk("VEVENT")]
    assert len({str(e["uid"]) for e in calendar.walk("VEVENT")}) == len(events)
    return events


async def test_a_users_feed_holds_their_shifts_in_every_schedule_of_the_links_team(svc: Service) -> None:
    ids = await _two_teams(svc.client)
    alice = ids["alice"]
    assert_error_shape(await svc.client.get(f"/users/{alice}/calendar-link", headers=key(READER)), 404)
    made = await svc.client.post(f"/users/{alice}/calendar-link", headers=key(MANAGER))
    assert made.status_code == 200, made.text
    team_a = made.json()["url"]
    assert team_a.startswith(f"https://alerts.example.com/users/{alice}/calendar.ics?token=")
    assert (await svc.client.get(f"/users/{alice}/calendar-link", headers=key(READER))).json()[
        "url"
    ] == team_a

    # Team a's link: alice's days of `primary` (every other day from 1 January,
    # 09:00 CET), and her override in bob's day of 6 January; nothing of team b.
    events = _events(await svc.client.get(_local(team_a)))
    assert {summary for *_, summary in events} == {"On call: primary (a)"}
    starts = sorted(start for start, _, _ in events)
    assert datetime(2026, 1, 6, 10, tzinfo=UTC) in starts  # the override, in bob's day
    assert datetime(2026, 1, 5, 8, tzinfo=UTC) in starts and datetime(2026, 1, 4, 8, tzinfo=UTC) not in starts
    shifts = await svc.client.get(
        f"/schedules/{ids['primary']}/shifts",
        params={"from": "2025-12-29T09:00:00Z", "to": "2026-03-29T09:00:00Z"},
        headers=key(READER),
    )
    alices = [
        (datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"]))
        for s in shifts.json()["shifts"]
        if s["user"]["name"] == "alice"
    ]
    assert sorted((start, end) for start, end, _ in events) == alices

    # A key of every team: her weeks of team b's `backend` (from 2 March) as well.
    every = (await svc.client.get(f"/users/{alice}/calendar-link", headers=key(ADMIN))).json()["url"]
    events = _events(await svc.client.get(_local(every)))
    backend = sorted((start, end) for start, end, summary in events if summary == "On call: backend (b)")
    assert backend[0] == (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 29, 9, tzinfo=UTC))
    assert len(events) == len(alices) + 1  # one merged shift of backend: alice alone, every week
    # bob's own link holds bob's days of primary alone.
    bob = (await svc.client.post(f"/users/{ids['bob']}/calendar-link", headers=key(MANAGER))).json()["url"]
    bobs = Calendar.from_ical((await svc.client.get(_local(bob))).content).walk("VEVENT")
    assert bobs and not {e.decoded("dtstart") for e in bobs} & set(starts)


async def test_a_users_new_link_revokes_the_old_and_other_tokens_are_404(svc: Service) -> None:
    ids = await _two_teams(svc.client)
    alice, sid = ids["alice"], ids["primary"]
    old = (await svc.client.post(f"/users/{alice}/calendar-link", headers=key(MANAGER))).json()["url"]
    new = (await svc.client.post(f"/users/{alice}/calendar-link", headers=key(MANAGER))).json()["url"]
    assert old != new
    assert_error_shape(await svc.client.get(_local(old)), 404)
    assert (await svc.client.get(_local(new))).status_code == 200
    token = new.partition("token=")[2]
    schedule_link = (await svc.client.post(f"/schedules/{sid}/calendar-link", headers=key(MANAGER))).json()
    schedule_token = schedule_link["url"].partition("token=")[2]
    for forged in (token[:-2] + "xx", "not-a-token", schedule_token):
        error = assert_error_shape(
            await svc.client.get(f"/users/{alice}/calendar.ics", params={"token": forged}), 404
        )
        assert error["field"] == "token"
    # A user's token is no schedule's, and not another user's.
    assert_error_shape(await svc.client.get(f"/schedules/{sid}/calendar.ics", params={"token": token}), 404)
    assert_error_shape(
        await svc.client.get(f"/users/{ids['bob']}/calendar.ics", params={"token": token}), 404
    )
    assert_error_shape(await svc.client.get(f"/users/{alice}/calendar.ics"), 422)
    # Keys: a reader makes none, another team's key none for bob (not in team b).
    assert_error_shape(await svc.client.post(f"/users/{alice}/calendar-link", headers=key(READER)), 403)
    assert_error_shape(await svc.client.post(f"/users/{ids['bob']}/calendar-link", headers=key(OTHER)), 404)
    # Team b's key may make alice's link, for team b alone, which revokes team a's.
    made = await svc.client.post(f"/users/{alice}/calendar-link", headers=key(OTHER))
    events = _events(await svc.client.get(_local(made.json()["url"])))
    assert {summary for *_, summary in events} == {"On call: backend (b)"}
    assert_error_shape(await svc.client.get(_local(new)), 404)
