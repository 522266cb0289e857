"""`alerts heartbeat` and `alerts heartbeats` as a cron job and a person run
them, against a real service process."""

from __future__ import annotations

import json
import subprocess

from tests.live import ALERTS, LiveService, run_cli


def test_a_cron_line_beats_and_the_list_shows_it(live_service: LiveService) -> None:
    env = live_service.env
    cron = subprocess.run(
        ["bash", "-c", f"true && {ALERTS} heartbeat nightly-backup --timeout-seconds 90000 --label env=prod"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cron.returncode == 0, cron.stderr
    assert cron.stdout.splitlines()[0].split()[:3] == ["NAME", "TEAM", "STATE"]
    assert cron.stdout.splitlines()[1].split()[:3] == ["nightly-backup", "default", "up"]

    again = run_cli("--json", "heartbeat", "nightly-backup", env=env)
    assert again.returncode == 0, again.stderr
    beat = json.loads(again.stdout)
    assert (beat["timeout_seconds"], beat["labels"], beat["severity"]) == (90000, {"env": "prod"}, "high")

    listed = run_cli("heartbeats", "--json", "--state", "up", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [h["name"] for h in json.loads(listed.stdout)] == ["nightly-backup"]
    late = run_cli("heartbeats", "--state", "late", env=env)
    assert late.returncode == 0 and late.stdout.strip() == "no heartbeats"


def test_a_refused_beat_exits_1_naming_the_field(live_service: LiveService) -> None:
    done = run_cli("--json", "heartbeat", "backup", "--timeout-seconds", "5", env=live_service.env)
    assert done.returncode == 1
    error = json.loads(done.stderr)
    assert (error["status"], error["field"]) == (422, "timeout_seconds")
    assert run_cli("heartbeat", "bad name", env=live_service.env).returncode == 1
