"""The calendar feed: a link made with `oncall:manage`, read by a calendar
app with its token and no key, parsed here with the icalendar library as an
app would; a new link revokes the old one; a forged token is a 404."""

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
KEYS = [
    {"name": "manager", "hash": hash_key(MANAGER), "scopes": ["oncall:manage", "read"], "team": "a"},
    {"name": "reader", "hash": hash_key(READER), "scopes": ["read"], "team": "a"},
    {"name": "other", "hash": hash_key(OTHER), "scopes": ["oncall:manage", "read"], "team": "b"},
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
