"""The schedules pages in a real browser against a real server: who is on
call now in the list, and a schedule's two weeks day by day across the next
change of the clocks in Berlin, with an override; a key of one team sees its
team's schedules only; nothing comes from another host."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.ui.conftest import Console, SignedIn, foreign_requests

BERLIN = ZoneInfo("Europe/Berlin")


def next_change(after: date) -> date:
    """The first day after `after` on which Berlin's clocks change."""
    day = after + timedelta(days=1)
    while (
        datetime(day.year, day.month, day.day, tzinfo=BERLIN).utcoffset()
        == (datetime(day.year, day.month, day.day, tzinfo=BERLIN) + timedelta(days=1)).utcoffset()
    ):
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class Rota:
    """Team payments' schedule: dana as the backstop since January, under a
    daily rotation of alice and bob (09:00 Berlin) that starts on `first`,
    five days before a change of the clocks, and an override of bob's."""

    schedule_id: str
    other_team_schedule_id: str
    first: date
    change: date


def post(console: Console, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with console.api() as api:
        answer = api.post(path, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def make_rota(console: Console) -> Rota:
    people = {
        name: post(console, "/users", {"name": name, "teams": [team]})["id"]
        for name, team in (("oc-alice", "payments"), ("oc-bob", "payments"), ("oc-dana", "payments"),
                           ("oc-carol", "default"))
    }  # fmt: skip
    change = next_change(datetime.now(BERLIN).date() + timedelta(days=7))
    first = change - timedelta(days=5)
    made = post(console, "/schedules", {
        "name": "payments-primary", "team": "payments", "time_zone": "Europe/Berlin",
        "layers": [
            {"name": "backstop", "participants": [people["oc-dana"]], "shift_unit": "weeks", "shift_length": 1,
             "handoff_time": "09:00", "start_date": "2026-01-05"},
            {"name": "daily", "participants": [people["oc-alice"], people["oc-bob"]], "shift_unit": "days",
             "shift_length": 1, "handoff_time": "09:00", "start_date": first.isoformat()},
        ],
    })  # fmt: skip
    swap = first + timedelta(days=2)
    post(console, f"/schedules/{made['id']}/overrides", {
        "user_id": people["oc-bob"], "note": "covers alice's dentist",
        "start": datetime(swap.year, swap.month, swap.day, 12, tzinfo=BERLIN).isoformat(),
        "end": datetime(swap.year, swap.month, swap.day, 18, tzinfo=BERLIN).isoformat(),
    })  # fmt: skip
    other = post(console, "/schedules", {
        "name": "front-desk", "team": "default", "time_zone": "UTC",
        "layers": [{"participants": [people["oc-carol"]], "shift_unit": "weeks", "shift_length": 1,
                    "handoff_time": "00:00", "start_date": "2026-01-05"}],
    })  # fmt: skip
    return Rota(made["id"], other["id"], first, change)


def status_of(browser: WebDriver) -> int:
    """The HTTP status of the page the browser shows."""
    status: int = browser.execute_script(
        "return performance.getEntriesByType('navigation')[0].responseStatus"
    )
    return status


def test_the_list_shows_who_is_on_call_now(console: Console, signed_in: SignedIn) -> None:
    make_rota(console)
    browser = signed_in("admin", "/ui/schedules")
    assert browser.find_element(By.CSS_SELECTOR, "nav a[aria-current]").text == "Schedules"
    rows = {
        row.get_attribute("data-schedule"): row.find_element(
            By.CSS_SELECTOR, "[data-testid=on-call-now]"
        ).text
        for row in browser.find_elements(By.CSS_SELECTOR, "[data-testid=schedules] tbody tr[data-schedule]")
    }
    # The daily rotation starts next week: the backstop is on call now.
    assert rows == {"payments-primary": "oc-dana", "front-desk": "oc-carol"}
    assert foreign_requests(browser, console.url) == []

    browser.delete_all_cookies()
    signed_in("oncall", "/ui/schedules")  # a key of team payments
    shown = browser.find_elements(By.CSS_SELECTOR, "[data-testid=schedules] tbody tr[data-schedule]")
    assert [row.get_attribute("data-schedule") for row in shown] == ["payments-primary"]


def test_two_weeks_day_by_day_across_a_change_of_the_clocks(console: Console, signed_in: SignedIn) -> None:
    rota = make_rota(console)
    browser = signed_in("oncall", f"/ui/schedules/{rota.schedule_id}?from={rota.first.isoformat()}")
    days = browser.find_elements(By.CSS_SELECTOR, "[data-testid=timeline] li.day")
    assert [day.get_attribute("data-date") for day in days] == [
        (rota.first + timedelta(days=n)).isoformat() for n in range(14)
    ]
    spring = rota.change.month == 3
    hours = 23 if spring else 25
    assert {day.get_attribute("data-date"): day.get_attribute("data-hours") for day in days} == {
        day.get_attribute("data-date"): "24" for day in days
    } | {rota.change.isoformat(): str(hours)}

    # The change: the shift from Saturday 09:00 to Sunday 09:00 lasts 23 (25)
    # hours, and Sunday's row is an hour shorter (longer) than the others.
    sunday = days[5]
    label = sunday.find_element(By.CSS_SELECTOR, "[data-testid=dst]").text
    assert label == f"{hours} h: clocks go {'forward' if spring else 'back'}"
    bars = sunday.find_elements(By.CSS_SELECTOR, ".bar")
    assert [(b.get_attribute("data-user"), b.get_attribute("data-start"), b.get_attribute("data-end")) for b in bars] == [
        ("oc-alice", "00:00", "09:00"), ("oc-bob", "09:00", "24:00"),
    ]  # fmt: skip
    track = sunday.find_element(By.CSS_SELECTOR, ".track").rect["width"]
    morning = 8 if spring else 10  # real hours from local midnight to 09:00
    assert abs(bars[0].rect["width"] / track - morning / hours) < 0.01
    assert "oc-alice" in bars[0].text and "00:00 to 09:00" in bars[0].get_attribute("textContent")
    saturday = rota.change - timedelta(days=1)
    saturday_0900 = datetime(saturday.year, saturday.month, saturday.day, 9, tzinfo=BERLIN)
    lengths = {
        row.find_elements(By.TAG_NAME, "td")[1].text: row.find_element(
            By.CSS_SELECTOR, "[data-testid=length]"
        ).text
        for row in browser.find_elements(By.CSS_SELECTOR, "[data-testid=shifts] tbody tr[data-user=oc-alice]")
    }
    assert lengths[saturday_0900.strftime("%a %d %b %H:%M %Z")] == f"{hours} h"

    # The override: bob from 12:00 to 18:00 on the third day, over alice.
    third = days[2].find_elements(By.CSS_SELECTOR, ".bar")
    assert [(b.get_attribute("data-user"), b.get_attribute("data-start"), b.get_attribute("data-end"),
             "override" in (b.get_attribute("class") or "")) for b in third] == [
        ("oc-bob", "00:00", "09:00", False), ("oc-alice", "09:00", "12:00", False),
        ("oc-bob", "12:00", "18:00", True), ("oc-alice", "18:00", "24:00", False),
    ]  # fmt: skip
    [override] = browser.find_elements(By.CSS_SELECTOR, "[data-testid=overrides] tbody tr[data-override]")
    assert "oc-bob" in override.text and "covers alice's dentist" in override.text
    layers = [
        row.get_attribute("data-layer") for row in browser.find_elements(By.CSS_SELECTOR, "[data-layer]")
    ]
    assert layers == ["backstop", "daily"]
    # Before the first handoff of the daily layer, the backstop shows through.
    assert days[0].find_element(By.CSS_SELECTOR, ".bar").get_attribute("data-user") == "oc-dana"
    assert foreign_requests(browser, console.url) == []


def test_who_is_on_call_now_is_highlighted(console: Console, signed_in: SignedIn) -> None:
    rota = make_rota(console)
    browser = signed_in("admin", f"/ui/schedules/{rota.schedule_id}")
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=on-call-now] .on-call").text == "oc-dana"
    today = datetime.now(BERLIN).date().isoformat()
    assert browser.find_element(By.CSS_SELECTOR, "li.day.today").get_attribute("data-date") == today
    now_bars = browser.find_elements(By.CSS_SELECTOR, "li.day.today .bar.now")
    assert [bar.get_attribute("data-user") for bar in now_bars] == ["oc-dana"]
    assert "on call now" in now_bars[0].get_attribute("textContent")
    assert browser.find_elements(By.CSS_SELECTOR, "li.day.today .now-line")
    [current] = browser.find_elements(By.CSS_SELECTOR, "[data-testid=shifts] tr.now")
    assert current.get_attribute("data-user") == "oc-dana"
    # Two weeks later and back, by links that need no script.
    browser.find_element(By.CSS_SELECTOR, "[data-testid=later]").click()
    later = (datetime.now(BERLIN).date() + timedelta(days=14)).isoformat()
    assert browser.current_url.endswith(f"?from={later}")
    assert browser.find_elements(By.CSS_SELECTOR, "li.day")[0].get_attribute("data-date") == later
    assert browser.find_elements(By.CSS_SELECTOR, ".bar.now") == []


def test_another_teams_schedule_is_not_found(console: Console, signed_in: SignedIn) -> None:
    rota = make_rota(console)
    browser = signed_in("oncall", f"/ui/schedules/{rota.other_team_schedule_id}")
    assert status_of(browser) == 404
    assert "not found" in browser.find_element(By.CSS_SELECTOR, "[data-testid=error]").text
    browser.get(f"{console.url}/ui/schedules/{rota.schedule_id}?from=next-week")
    assert status_of(browser) == 422
    assert "(field: from)" in browser.find_element(By.CSS_SELECTOR, "[data-testid=error]").text
