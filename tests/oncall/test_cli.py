"""`alerts oncall`: who is on call, per schedule, and a team's configuration
exported and imported as a TOML file, against a real service process."""

from __future__ import annotations

import json
from pathlib import Path

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


PAYMENTS = """\
team = "payments"

[[users]]
name = "pay-ana"
full_name = "Ana Example"
time_zone = "Europe/Lisbon"
contact_methods = [{type = "email", address = "ana@example.com"}]

[[users]]
name = "pay-ben"
time_zone = "UTC"
contact_methods = []

[[schedules]]
name = "payments-primary"
time_zone = "Europe/Lisbon"

[[schedules.layers]]
name = "weekly"
participants = ["pay-ana", "pay-ben"]
shift_unit = "weeks"
shift_length = 1
handoff_time = "10:00"
start_date = 2026-03-02
restrictions = []

[[escalation_policies]]
name = "payments-urgent"
repeat_last_step = 0

[[escalation_policies.steps]]
after_minutes = 0
notify = ["schedule:payments-primary", "console"]

[[routes]]
name = "critical"
matchers = [{name = "severity", value = "critical", is_regex = false}]
escalation_policy = "payments-urgent"
channels = ["console"]
continue = false
"""


def test_oncall_export_and_import_round_trip_a_document_file(
    live_service: LiveService, tmp_path: Path
) -> None:
    env = live_service.env
    document = tmp_path / "payments.toml"
    document.write_text(PAYMENTS, encoding="utf-8")

    dry = run_cli("--json", "oncall", "import", str(document), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert (planned["dry_run"], planned["users"]["created"], planned["routes"]["created"]) == (
        True,
        ["pay-ana", "pay-ben"],
        ["critical"],
    )
    assert run_cli("oncall", "export", "--team", "payments", env=env).stdout == 'team = "payments"\n'

    done = run_cli("oncall", "import", str(document), env=env)
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert lines[0] == ["team", "payments:", "changed"]
    assert ["schedules", "created", "payments-primary"] in lines

    exported = run_cli("oncall", "export", "--team", "payments", env=env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == PAYMENTS  # byte for byte
    again = run_cli("oncall", "import", "-", env=env, stdin=exported.stdout)
    assert (again.returncode, again.stdout) == (0, "team payments: nothing to change\n"), again.stderr

    broken = tmp_path / "broken.toml"
    broken.write_text(PAYMENTS.replace('escalation_policy = "payments-urgent"', 'escalation_policy = "x"'))
    refused = run_cli("--json", "oncall", "import", str(broken), env=env)
    assert refused.returncode == 1
    assert json.loads(refused.stderr)["field"] == "routes.0.escalation_policy"
    assert run_cli("oncall", "import", env=env).returncode == 2  # no FILE
    assert run_cli("oncall", "export", str(document), env=env).returncode == 2
