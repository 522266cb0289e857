"""`alerts send-batch` as a user runs it, against a real service process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.live import ALERTS, LiveService, run_cli

ALERTS_JSON = [
    {"alert_type": "disk_full", "severity": "high", "message": "/var 91%", "source": "db-1"},
    {"alert_type": "disk_full", "severity": "critical", "message": "/var 99%", "source": "db-1"},
]


def test_send_batch_from_a_file_and_from_stdin(live_service: LiveService, tmp_path: Path) -> None:
    env = live_service.env
    batch = tmp_path / "alerts.json"
    batch.write_text(json.dumps(ALERTS_JSON), encoding="utf-8")
    done = run_cli("--json", "send-batch", str(batch), env=env)
    assert done.returncode == 0, done.stderr
    assert [(a["outcome"], a["occurrences"]) for a in json.loads(done.stdout)] == [
        ("created", 1),
        ("duplicate", 2),
    ]

    lines = "\n".join(json.dumps(alert) for alert in ALERTS_JSON) + "\n"
    piped = subprocess.run(
        [str(ALERTS), "send-batch", "-"],
        input=lines,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines()[0].split()[:2] == ["OUTCOME", "ID"]
    assert [line.split()[0] for line in piped.stdout.splitlines()[1:]] == ["duplicate", "duplicate"]


def test_send_batch_refusals(live_service: LiveService, tmp_path: Path) -> None:
    env = live_service.env
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([ALERTS_JSON[0], {**ALERTS_JSON[1], "severity": "bogus"}]), encoding="utf-8")
    refused = run_cli("--json", "send-batch", str(bad), env=env)
    assert refused.returncode == 1
    assert json.loads(refused.stderr)["field"] == "[1].severity"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("[1, 2", encoding="utf-8")
    assert run_cli("send-batch", str(garbage), env=env).returncode == 2
    assert run_cli("send-batch", str(tmp_path / "missing.json"), env=env).returncode == 2
