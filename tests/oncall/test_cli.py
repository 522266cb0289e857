"""`alerts oncall`: who is on call, per schedule, against a real service process."""

from __future__ import annotations

import json

import httpx

from tests.live import LiveService, run_cli


def test_oncall_lists_each_schedule_with_who_is_on_call(live_service: LiveService) -> None:
    with httpx.Client(base_url=live_service.url, timeout=10) as client:
        alice = client.post("/users", json={"name": "alice", "full_name": "Alice Example"}).json()["id"]
        layer = {"participants": [alice], "shift_unit": "days", "shift_length": 1, "handoff_time": "09:00",
                 "start_date": "2026-03-01"}  # fmt: skip
        made = client.post(
            "/schedules", json={"name": "primary", "time_zone": "Europe/Berlin", "layers": [layer]}
        )
        assert made.status_code == 201, made.text
        made = client.post("/schedules", json={"name": "empty", "time_zone": "UTC"})
        assert made.status_code == 201, made.text

    done = run_cli("oncall", "--at", "2026-03-02T12:00:00Z", env=live_service.env)
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert lines[0][:3] == ["SCHEDULE", "TEAM", "ON"]
    assert lines[1:] == [["empty", "default", "nobody"], ["primary", "default", "alice", "Alice", "Example"]]

    before = run_cli("--json", "oncall", "primary", "--at", "2026-02-28T12:00:00+01:00", env=live_service.env)
    assert before.returncode == 0, before.stderr
    [answer] = json.loads(before.stdout)
    assert (answer["schedule"], answer["user"], answer["at"]) == ("primary", None, "2026-02-28T11:00:00Z")

    unknown = run_cli("oncall", "nonesuch", env=live_service.env)
    assert unknown.returncode == 2 and "nonesuch" in unknown.stderr
