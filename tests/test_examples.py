"""Each script in examples/ runs against a live service and exits 0.

The service gets a webhook channel (a real HTTP receiver), an email channel
(a real SMTP server) and a policy whose first critical step comes after
0.01 minutes, so the escalation example sees a real escalation in a second.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, StartSmtp
from tests.live import LiveService, run_service
from tests.peers import HttpReceiver

EXAMPLES = ROOT / "examples"

CONFIG = """
[channels.ops-hook]
type = "webhook"
url = "{hook}"

[channels.ops-email]
type = "email"
host = "127.0.0.1"
port = {smtp}
to = ["oncall@example.com"]

[escalation]
name = "demo"

[[escalation.rules]]
level = 2
severities = ["high"]
after_minutes = 30
channels = ["ops-hook"]

[[escalation.rules]]
level = 3
severities = ["critical"]
after_minutes = 0.01
repeat_every_minutes = 60
channels = ["ops-hook"]
"""

EXPECTED = {
    "basic_send.py": "created, status open, severity high",
    "multi_channel.py": "ops-email: sent after 1 attempt(s)",
    "deduplication.py": "occurrences: 5, suppressed: 4",
    "escalation_workflow.py": "escalated to level 3 (from level 1)",
    "resolution_tracking.py": "resolved by alice",
    "full_workflow.py": "workflow complete",
}


@pytest.fixture
def demo_service(
    clean_database: str, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: StartSmtp
) -> Iterator[LiveService]:
    smtp = smtp_server()
    config = CONFIG.format(hook=http_receiver.url, smtp=smtp.port)
    with run_service(clean_database, tmp_path, config) as svc:
        yield svc


def test_there_are_six_examples() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


def test_every_example_runs(demo_service: LiveService) -> None:
    for script, expected in EXPECTED.items():
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / script)],
            env={**demo_service.env, "ALERTS_EXAMPLE_WAIT": "20"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=ROOT,
        )
        assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
        assert expected in done.stdout, f"{script} printed:\n{done.stdout}"
        if script == "full_workflow.py":  # the statistics are the service's, not empty
            assert re.search(r"service statistics: total \d+, active \d+, resolved \d+", done.stdout), (
                done.stdout
            )
