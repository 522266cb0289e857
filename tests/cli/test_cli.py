"""The `alerts` command line as a user runs it: a real process talking to a
real service process (itself started with `alerts serve`), for every
command, `alerts stats` included.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from alembic.script import ScriptDirectory

from tests.conftest import alembic_config
from tests.flooding import flood_channels, make_flood
from tests.live import LiveService, client_env, run_cli, run_service
from tests.peers import HttpReceiver, free_port


def ok_json(*args: str, env: dict[str, str]) -> Any:
    done = run_cli(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_client_command_with_json_and_tables(live_service: LiveService) -> None:
    env = live_service.env
    sent = ok_json(
        "send", "-t", "disk_full", "-s", "high", "-m", "/var is 91% full", "--source", "db-1",
        "--label", "mount=/var", "--detail", "used_pct=91", "--channel", "console",
        env=env,
    )  # fmt: skip
    assert (
        sent["outcome"] == "created"
        and sent["labels"] == {"mount": "/var"}
        and sent["details"] == {"used_pct": 91}
    )
    alert_id = sent["id"]
    again = ok_json(
        "send",
        "-t",
        "disk_full",
        "-s",
        "high",
        "-m",
        "93%",
        "--source",
        "db-1",
        "--label",
        "mount=/var",
        env=env,
    )
    assert again["outcome"] == "duplicate" and again["occurrences"] == 2

    listed = ok_json("list", "--status", "open", env=env)
    assert [a["id"] for a in listed["items"]] == [alert_id]
    found = ok_json("list", "--label", "mount=/var", "-q", "93%", env=env)
    assert [a["id"] for a in found["items"]] == [alert_id]
    assert ok_json("list", "--label", "mount=/tmp", env=env)["items"] == []
    assert ok_json("list", "--search", "92%", env=env)["items"] == []
    since = ok_json("list", "--since", "2000-01-01", "--until", "2999-01-01T00:00:00+00:00", env=env)
    assert [a["id"] for a in since["items"]] == [alert_id]  # a time without a zone is UTC
    table = run_cli("list", env=env)
    assert table.returncode == 0
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:4] == ["ID", "STATUS", "SEVERITY", "TYPE"] and row.startswith(alert_id)

    shown = ok_json("show", alert_id, env=env)
    assert shown["history"][0]["kind"] == "created" and shown["notifications"][0]["channel"] == "console"
    human = run_cli("show", alert_id, env=env).stdout
    assert "History" in human and "Notifications" in human and "disk_full" in human

    acked = ok_json("--json", "ack", alert_id, "--by", "alice", "--note", "looking", env=env)
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "alice"
    resolved = run_cli("resolve", alert_id, "--by", "bob", "--notes", "cleaned up", env=env)
    assert resolved.returncode == 0 and "resolved_by:        bob" in resolved.stdout

    # Failures: the service's refusals exit 1, with the error on stderr.
    again_ack = run_cli("ack", alert_id, env=env)
    assert again_ack.returncode == 1 and "cannot move alert from resolved" in again_ack.stderr
    missing = run_cli("show", "00000000-0000-0000-0000-000000000000", "--json", env=env)
    assert missing.returncode == 1 and json.loads(missing.stderr)["status"] == 404
    bad_id = run_cli("show", "not-a-uuid", env=env)
    assert bad_id.returncode == 1 and "alert_id" in bad_id.stderr


def test_usage_errors_exit_2_and_an_unreachable_service_exits_3(tmp_path: Path) -> None:
    env = client_env(f"http://127.0.0.1:{free_port()}")
    assert run_cli("send", "-t", "x", "-s", "urgent", "-m", "m", env=env).returncode == 2
    bad_label = run_cli("send", "-t", "x", "-s", "low", "-m", "m", "--label", "novalue", env=env)
    assert bad_label.returncode == 2 and "KEY=VALUE" in bad_label.stderr
    assert run_cli("frobnicate", env=env).returncode == 2
    down = run_cli("list", "--timeout", "1", env=env)
    assert down.returncode == 3 and "cannot reach the alert service" in down.stderr


def test_stats_prints_what_the_service_counts_as_a_table_and_json(live_service: LiveService) -> None:
    env = live_service.env
    for message in ("/var 91%", "/var 93%"):  # one alert and a duplicate
        assert run_cli("send", "-t", "disk_full", "-s", "high", "-m", message, env=env).returncode == 0
    figures = ok_json("stats", env=env)
    assert figures["alerts"]["total"] == 1 and figures["alerts"]["by_type"] == {"disk_full": 1}
    assert figures["deduplication"]["suppressed"] == 1
    table = run_cli("stats", env=env)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["FIGURE", "VALUE"]
    assert any(line.split() == ["alerts.total", "1"] for line in lines)
    assert any(line.split() == ["deduplication.suppression_rate", "0.50"] for line in lines)


def test_keygen_prints_a_key_and_its_hash() -> None:
    data = ok_json(
        "keygen", "--name", "billing", "--scope", "alerts:write", "--scope", "read", env=client_env("x")
    )
    assert data["hash"] == "sha256:" + hashlib.sha256(data["key"].encode()).hexdigest()
    assert len(data["key"]) >= 43 and data["scopes"] == ["alerts:write", "read"]
    text = run_cli("keygen", env=client_env("x")).stdout
    assert "[[api_keys]]" in text and 'scopes = ["alerts:write"]' in text


def test_migrate_builds_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    env = client_env("x", ALERTS_DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    done = run_cli("migrate", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["migrated"] is True
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
        version = conn.execute("select version_num from alembic_version").fetchone()[0]
    head = ScriptDirectory.from_config(alembic_config(str(db))).get_current_head()
    assert {"alerts", "alert_events", "notifications", "silences"} <= tables and version == head


def test_moves_channels_and_silences(live_service: LiveService) -> None:
    env = live_service.env
    alert_id = ok_json("send", "-t", "disk_full", "-s", "high", "-m", "91%", "--source", "db-9", env=env)[
        "id"
    ]
    assert ok_json("move", alert_id, "in_progress", "--note", "looking", env=env)["status"] == "in_progress"
    assert ok_json("move", alert_id, "resolved", env=env)["status"] == "resolved"
    assert ok_json("move", alert_id, "reopened", env=env)["status"] == "reopened"
    assert run_cli("move", alert_id, "acknowledged", env=env).returncode == 0
    refused = run_cli("move", alert_id, "open", env=env)
    assert refused.returncode == 1 and "cannot move alert from acknowledged to open" in refused.stderr

    [console] = [c for c in ok_json("channels", env=env) if c["name"] == "console"]
    assert console["type"] == "console"
    assert run_cli("channels", env=env).stdout.split()[:3] == ["NAME", "TYPE", "SENT"]

    made = ok_json(
        "silence", "--match", "source=db-9", "--match-regex", "labels.env=prod|staging",
        "--minutes", "30", "--comment", "disk swap", env=env,
    )  # fmt: skip
    assert made["state"] == "active" and {m["name"] for m in made["matchers"]} == {"source", "labels.env"}
    listed = ok_json("silences", "--state", "active", env=env)
    assert [s["id"] for s in listed] == [made["id"]]
    human = run_cli("silences", env=env).stdout
    assert "source=db-9" in human and "labels.env=~prod|staging" in human
    assert ok_json("expire", made["id"], env=env)["state"] == "expired"
    assert ok_json("silences", "--state", "active", env=env) == []
    assert run_cli("silence", "--minutes", "5", "--comment", "x", env=env).returncode == 2  # no matcher


def test_channels_prints_flood_control_where_set(
    clean_database: str, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    http_receiver.answer(429, headers={"Retry-After": "120"}, body=b"slow down")
    with run_service(clean_database, tmp_path, config=flood_channels(http_receiver.url)) as svc:
        with httpx.Client(base_url=svc.url, timeout=10) as api:
            figures = make_flood(api)
        lines = run_cli("channels", env=svc.env).stdout.splitlines()
    header, *rows = lines
    assert header.index("MEAN MS") < header.index("MAX/MIN") < header.index("FOLDED (1H)")
    assert header.endswith("PAUSED UNTIL")
    start = {name: header.index(name) for name in ("MAX/MIN", "FOLDED (1H)", "PAUSED UNTIL")}
    by_name = {row.split()[0]: row for row in rows}
    burst, hooks, console = by_name["burst"], by_name["hooks"], by_name["console"]
    folded = f"{figures['burst']['folded']} ({figures['burst']['folded_last_hour']})"
    assert burst[start["MAX/MIN"] :].split()[0] == "1"
    assert burst[start["FOLDED (1H)"] : start["PAUSED UNTIL"]].strip() == folded
    assert burst[start["PAUSED UNTIL"] :].strip() == "-"
    until = datetime.fromisoformat(figures["hooks"]["paused_until"])
    assert hooks[start["PAUSED UNTIL"] :].strip() == f"{until:%Y-%m-%d %H:%M:%S}"
    assert console[start["MAX/MIN"] :].split() == ["-", "-", "-"]  # only where set


def test_channels_without_flood_control_keeps_the_narrow_table(live_service: LiveService) -> None:
    header = run_cli("channels", env=live_service.env).stdout.splitlines()[0]
    assert header.split()[-2:] == ["MEAN", "MS"]


def test_follow_prints_each_new_alert_once_as_it_arrives(live_service: LiveService) -> None:
    import subprocess
    import time

    from tests.live import ALERTS

    env = live_service.env
    old = ok_json("send", "-t", "disk_full", "-s", "high", "-m", "91%", "--source", "db-1", env=env)
    follower = subprocess.Popen(
        [str(ALERTS), "follow", "--json", "--count", "2", "--interval", "0.2", "--severity", "critical"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)  # it has read what exists by now: that is not new
        ok_json(
            "send", "-t", "disk_full", "-s", "high", "-m", "92%", "--source", "db-1", env=env
        )  # a duplicate
        ok_json(
            "send", "-t", "disk_full", "-s", "low", "-m", "x", "--source", "db-2", env=env
        )  # filtered out
        first = ok_json("send", "-t", "http_5xx", "-s", "critical", "-m", "502", "--source", "web-1", env=env)
        second = ok_json(
            "send", "-t", "http_5xx", "-s", "critical", "-m", "503", "--source", "web-2", env=env
        )
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    shown = [json.loads(line) for line in out.splitlines()]
    assert [a["id"] for a in shown] == [first["id"], second["id"]]  # oldest first, once each
    since = run_cli("follow", "--since", old["first_seen_at"], "--count", "1", "--json", env=env)
    assert since.returncode == 0 and json.loads(since.stdout)["id"] == old["id"]
    human = run_cli("follow", "--since", "2000-01-01", "--count", "1", "--type", "http_5xx", env=env)
    assert human.returncode == 0 and "critical" in human.stdout and first["id"] in human.stdout
    assert run_cli("follow", "--interval", "0", env=env).returncode == 2


def test_follow_shows_a_late_commit_stamped_before_the_newest_shown_once() -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    from app.cli.follow import Mark
    from app.client.models import Alert

    def alert(seconds: float) -> Alert:
        at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(seconds=seconds)
        # Mark reads only the id and the stamp.
        return Alert.model_construct(id=uuid.UUID(int=int(seconds * 10)), first_seen_at=at)

    mark = Mark()
    a, b, late = alert(10), alert(12), alert(11)
    assert mark.take([b, a]) == [a, b]
    assert mark.since() == b.first_seen_at - timedelta(seconds=30)
    assert mark.take([b, late, a]) == [late]  # committed after b, stamped before it
    assert mark.take([b, late, a]) == []


def test_serve_refuses_a_template_that_does_not_compile_naming_channel_and_field(tmp_path: Path) -> None:
    config = tmp_path / "alerts.toml"
    config.write_text(
        '[channels.ops-chat]\ntype = "console"\ntitle_template = "{{ alert.id }"\n', encoding="utf-8"
    )
    env = client_env("x", ALERTS_CONFIG_FILE=str(config))
    done = run_cli("serve", "--port", str(free_port()), env=env, timeout=30)
    assert done.returncode == 1
    assert "channels.ops-chat.console.title_template: unexpected '}' (line 1)" in done.stderr
