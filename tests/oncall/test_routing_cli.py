"""`alerts policies` and `alerts routes` against a real service process:
made from TOML and JSON files, listed, shown, tested and deleted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveService, run_cli, run_service

CONFIG = """
[channels.ops]
type = "console"

[channels.pager]
type = "console"
"""

POLICY_TOML = """
name = "payments-critical"
description = "page, then the channel"
repeat_last_step = 2
repeat_every_minutes = 10

[[steps]]
after_minutes = 0
notify = ["ops"]

[[steps]]
after_minutes = 15
notify = ["channel:pager"]
"""


@pytest.fixture
def live(clean_database: str, tmp_path: Path) -> Iterator[LiveService]:
    with run_service(clean_database, tmp_path, CONFIG) as svc:
        yield svc


def cli(live: LiveService, *args: str) -> str:
    done = run_cli(*args, env=live.env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_policies_and_routes_from_files(live: LiveService, tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY_TOML, encoding="utf-8")
    assert "created policy payments-critical" in cli(live, "policies", "create", str(policy_file))
    route_file = tmp_path / "route.json"
    route_file.write_text(
        json.dumps(
            {
                "name": "prod-critical",
                "matchers": [
                    {"name": "labels.env", "value": "prod"},
                    {"name": "severity", "value": "critical"},
                ],
                "escalation_policy": "payments-critical",
                "channels": ["pager"],
                "continue": True,
            }
        ),
        encoding="utf-8",
    )
    made = json.loads(cli(live, "routes", "create", str(route_file), "--json"))
    assert (made["escalation_policy"], made["continue"]) == ("payments-critical", True)

    listed = cli(live, "policies").splitlines()
    assert listed[0].split()[:2] == ["NAME", "TEAM"]
    assert listed[1].split()[:4] == ["payments-critical", "default", "+0m", "ops;"]
    shown = json.loads(cli(live, "policies", "show", "payments-critical"))
    assert [step["notify"] for step in shown["steps"]] == [["ops"], ["channel:pager"]]
    routes = cli(live, "routes", "list").splitlines()
    assert routes[1].split() == ["0", "prod-critical", "default", "labels.env=prod", "severity=critical",
                                 "payments-critical", "pager", "yes"]  # fmt: skip

    tested = cli(live, "routes", "test", "--severity", "critical", "--label", "env=prod").splitlines()
    assert tested == ["routes:   prod-critical", "policy:   payments-critical", "channels: pager"]
    other = json.loads(cli(live, "--json", "routes", "test", "-s", "critical", "--label", "env=dev"))
    assert (other["routes"], other["escalation_policy"], other["channels"]) == ([], None, ["console"])

    # A policy a route uses stays; the refusal names why (exit code 1).
    refused = run_cli("policies", "delete", "payments-critical", env=live.env)
    assert refused.returncode == 1 and "prod-critical" in refused.stderr
    assert "deleted route prod-critical" in cli(live, "routes", "delete", "prod-critical")
    assert "deleted policy payments-critical" in cli(live, "policies", "delete", made["escalation_policy_id"])
    assert cli(live, "routes").strip() == "no routes"

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[steps]]\nafter_minutes = 0\nnotify = ["nowhere"]\n', encoding="utf-8")
    failed = run_cli("--json", "policies", "create", str(bad), env=live.env)
    assert failed.returncode == 1
    assert json.loads(failed.stderr)["field"] == "steps.0.notify.0"
    unknown = run_cli("routes", "show", "nonesuch", env=live.env)
    assert unknown.returncode == 2 and "nonesuch" in unknown.stderr
