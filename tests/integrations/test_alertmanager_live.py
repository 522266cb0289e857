"""The real Prometheus Alertmanager (Debian's prometheus-alertmanager) posting
to this service running as a process: alerts given to Alertmanager arrive
here, and ending them in Alertmanager resolves them here.

Alertmanager runs on 127.0.0.1 with clustering off, its own storage in a tmp
dir, and group_wait/group_interval short enough that the test takes seconds.
Where the package is not installed, the test is skipped saying so; .ci/run
installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveService, stop_process
from tests.peers import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
WAIT_SECONDS = 30.0

pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason="prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)",
)

CONFIG = """\
global:
  resolve_timeout: 5m
route:
  receiver: alert-service
  group_by: ['alertname', 'instance']
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: alert-service
    webhook_configs:
      - url: {url}/integrations/alertmanager
        send_resolved: true
"""


@pytest.fixture
def alertmanager(live_service: LiveService, tmp_path: Path) -> Iterator[str]:
    assert BINARY is not None
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=live_service.url), encoding="utf-8")
    (tmp_path / "am-data").mkdir()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ready(url), f"Alertmanager did not start:\n{log.read_text()}")
        yield url
    finally:
        stop_process(process)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _until(check: Callable[[], Any], message: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(message)


def am_alert(
    name: str, instance: str, severity: str, starts: datetime, ends: datetime | None = None
) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "instance": instance, "job": "node", "severity": severity},
        "annotations": {"summary": f"{name} on {instance}", "description": "seen by the live test"},
        "startsAt": starts.isoformat(),
        "generatorURL": "http://prometheus.test/graph",
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


def ours(service: str, alert_type: str) -> dict[str, Any] | None:
    items = httpx.get(f"{service}/alerts", params={"alert_type": alert_type}).json()["items"]
    return items[0] if items else None


def test_alerts_from_alertmanager_arrive_and_resolve(live_service: LiveService, alertmanager: str) -> None:
    starts = datetime.now(UTC) - timedelta(seconds=5)
    disk = am_alert("DiskFull", "db-1:9100", "critical", starts)
    load = am_alert("HighLoad", "web-1:9100", "warning", starts)
    posted = httpx.post(f"{alertmanager}/api/v2/alerts", json=[disk, load])
    assert posted.status_code == 200, posted.text

    arrived = _until(lambda: ours(live_service.url, "DiskFull"), "DiskFull never arrived")
    assert (arrived["severity"], arrived["source"], arrived["status"]) == ("critical", "db-1:9100", "open")
    assert arrived["message"] == "DiskFull on db-1:9100" and arrived["labels"]["job"] == "node"
    fingerprints = {
        a["labels"]["alertname"]: a["fingerprint"] for a in httpx.get(f"{alertmanager}/api/v2/alerts").json()
    }
    assert arrived["fingerprint"] == fingerprints["DiskFull"]
    other = _until(lambda: ours(live_service.url, "HighLoad"), "HighLoad never arrived")
    assert other["severity"] == "medium"

    # End DiskFull in Alertmanager: it sends `resolved`, and the alert resolves here.
    ended = am_alert(
        "DiskFull", "db-1:9100", "critical", starts, ends=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=[ended]).status_code == 200
    resolved = _until(
        lambda: (a := ours(live_service.url, "DiskFull")) and a["status"] == "resolved" and a,
        "DiskFull was not resolved",
    )
    assert resolved["resolved_by"] == "alertmanager" and resolved["id"] == arrived["id"]
    assert "resolved in Alertmanager" in resolved["resolution_notes"]
    still = ours(live_service.url, "HighLoad")
    assert still is not None and still["status"] == "open"
