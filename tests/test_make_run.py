"""`make run` as a newcomer types it: a bad setting is one line naming its key,
and notification links follow the port it serves on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.peers import HttpReceiver, free_port


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_") and not k.startswith("MAKE")}
    return env | settings


def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    env = _env(ALERTS_MAX_ATTEMPTS="many", ALERTS_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/a.db")
    done = subprocess.run(
        ["make", "--no-print-directory", "run", f"PORT={free_port()}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "max_attempts" in done.stderr


def test_notification_links_follow_the_port(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    port = free_port()
    config = tmp_path / "alerts.toml"
    config.write_text(
        f'default_channels = ["hooks"]\n[channels.hooks]\ntype = "webhook"\nurl = "{http_receiver.url}"\n',
        encoding="utf-8",
    )
    env = _env(
        ALERTS_CONFIG_FILE=str(config),
        ALERTS_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/a.db",
        ALERTS_DELIVERY_POLL_SECONDS="0.5",
    )
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "make run exited"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        body = {"alert_type": "disk_full", "severity": "high", "message": "m", "source": "db-1"}
        alert = httpx.post(f"{url}/alerts", json=body, timeout=5).json()
        deadline = time.monotonic() + 20
        while not http_receiver.requests:
            assert time.monotonic() < deadline, "no notification"
            time.sleep(0.1)
        sent = json.loads(http_receiver.requests[0].body)
        assert sent["alert_url"] == f"{url}/alerts/{alert['id']}"
        assert sent["console_url"] == f"{url}/ui/alerts/{alert['id']}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
