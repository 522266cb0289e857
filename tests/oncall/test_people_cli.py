"""`alerts users`, `alerts schedules` and `alerts overrides` against a real
service process: people and a schedule made from files (participants by
name), an override added by names, who is on call following it, and each
deleted again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveService, run_cli, run_service

SCHEDULE_TOML = """
name = "payments-primary"
time_zone = "Europe/Berlin"

[[layers]]
name = "weekly"
participants = ["alice", "bob"]
shift_unit = "weeks"
shift_length = 1
handoff_time = "09:00"
start_date = "2026-01-05"
"""


@pytest.fixture
def live(clean_database: str, tmp_path: Path) -> Iterator[LiveService]:
    with run_service(clean_database, tmp_path, "") as svc:
        yield svc


def cli(live: LiveService, *args: str) -> str:
    done = run_cli(*args, env=live.env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def on_call(live: LiveService, at: str) -> str:
    [answer] = json.loads(cli(live, "oncall", "payments-primary", "--at", at, "--json"))
    name: str = answer["user"]["name"]
    return name


def test_people_a_schedule_and_an_override_from_the_command_line(live: LiveService, tmp_path: Path) -> None:
    for name in ("alice", "bob"):
        person = tmp_path / f"{name}.json"
        person.write_text(json.dumps({"name": name, "contact_methods": [
            {"type": "email", "address": f"{name}@example.com"}]}), encoding="utf-8")  # fmt: skip
        assert f"created user {name}" in cli(live, "users", "create", str(person))
    listed = cli(live, "users")
    assert "alice" in listed and "bob" in listed and "email" in listed
    schedule_file = tmp_path / "schedule.toml"
    schedule_file.write_text(SCHEDULE_TOML, encoding="utf-8")
    assert "created schedule payments-primary" in cli(live, "schedules", "create", str(schedule_file))
    shown = json.loads(cli(live, "schedules", "show", "payments-primary"))
    users = {u["name"]: u["id"] for u in json.loads(cli(live, "users", "--json"))}
    assert shown["layers"][0]["participants"] == [users["alice"], users["bob"]]
    assert "weekly" in cli(live, "schedules")

    # Week of 12 January: bob's; alice covers Tuesday afternoon.
    assert on_call(live, "2026-01-13T14:00:00Z") == "bob"
    added = cli(live, "overrides", "add", "payments-primary", "alice", "--start", "2026-01-13T12:00:00Z",
                "--end", "2026-01-13T18:00:00", "--note", "swap")  # fmt: skip
    assert "alice covers payments-primary" in added
    assert on_call(live, "2026-01-13T14:00:00Z") == "alice"
    assert on_call(live, "2026-01-13T18:00:00Z") == "bob"  # a time without a zone was UTC
    [override] = json.loads(cli(live, "overrides", "list", "payments-primary", "--from", "2026-01-12T00:00:00Z",
                                "--to", "2026-01-19T00:00:00Z", "--json"))  # fmt: skip
    assert (override["user"]["name"], override["note"]) == ("alice", "swap")
    assert "no overrides" in cli(
        live, "overrides", "list", "payments-primary", "--from", "2026-02-01T00:00:00Z"
    )
    assert "deleted override" in cli(live, "overrides", "delete", "payments-primary", override["id"])
    assert on_call(live, "2026-01-13T14:00:00Z") == "bob"

    # Refusals name what is wrong and fail the command.
    unknown = run_cli("overrides", "add", "payments-primary", "carol", "--start", "2026-01-13T12:00:00Z",
                      "--end", "2026-01-13T13:00:00Z", env=live.env)  # fmt: skip
    assert unknown.returncode != 0 and "no user named 'carol'" in unknown.stderr
    backwards = run_cli("overrides", "add", "payments-primary", "bob", "--start", "2026-01-13T12:00:00Z",
                        "--end", "2026-01-13T11:00:00Z", env=live.env)  # fmt: skip
    assert backwards.returncode != 0 and "end" in backwards.stderr
    in_use = run_cli("users", "delete", "alice", env=live.env)
    assert in_use.returncode != 0 and "payments-primary" in in_use.stderr, in_use.stderr

    assert "deleted schedule payments-primary" in cli(live, "schedules", "delete", "payments-primary")
    assert "deleted user alice" in cli(live, "users", "delete", "alice")
    assert "no schedules" in cli(live, "schedules")
    assert [u["name"] for u in json.loads(cli(live, "users", "--json"))] == ["bob"]
