"""Logs are one JSON object per line, carry the ids, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.logs import JsonFormatter
from tests.conftest import StartSmtp
from tests.helpers import create_alert, wait_for
from tests.live import run_service
from tests.peers import HttpReceiver

SMTP_SECRET = "smtp-Pa55word-never-logged"
HOOK_SECRET = "hook-s1gning-secret-never-logged"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_log_lines_are_json_with_ids_and_without_secrets(
    service_factory,
    json_log: io.StringIO,
    http_receiver: HttpReceiver,
    smtp_server: StartSmtp,  # type: ignore[no-untyped-def]
) -> None:
    smtp = smtp_server(authenticator=True, auth_require_tls=False)
    http_receiver.answer(500)
    channels = {
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "to": ["a@example.com"],
            "username": "wrong-user",
            "password": SMTP_SECRET,
            "allow_insecure_auth": True,  # the test server takes AUTH in clear
        },
        "hooks": {"type": "webhook", "url": http_receiver.url, "secret": HOOK_SECRET},
    }
    async with service_factory(channels=channels, max_attempts=1) as svc:
        alert = await create_alert(svc.client, channels=["mail", "hooks", "console"])

        async def finished() -> bool:
            detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
            return all(n["status"] in ("sent", "failed") for n in detail["notifications"])

        await wait_for(finished)
        await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "alice"})
        await svc.client.get("/channels")
        await svc.client.get("/escalation/policy")

    text = json_log.getvalue()
    assert SMTP_SECRET not in text and HOOK_SECRET not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    submitted = [line for line in lines if line.get("outcome") == "created"]
    assert (
        submitted
        and submitted[0]["alert_id"] == alert["id"]
        and submitted[0]["fingerprint"] == alert["fingerprint"]
    )
    deliveries = {line["channel"]: line for line in lines if line["message"].startswith("delivery ")}
    assert deliveries["mail"]["outcome"] == "failed" and deliveries["hooks"]["outcome"] == "failed"
    assert deliveries["console"]["outcome"] == "sent" and deliveries["console"]["alert_id"] == alert["id"]
    # A notification given up on is an error; one sent is routine.
    assert deliveries["mail"]["level"] == "error" and deliveries["hooks"]["level"] == "error"
    assert deliveries["console"]["level"] == "info"
    # The console channel's line carries the notification once.
    [console] = [line for line in lines if line["logger"] == "app.notifiers.console"]
    assert console["notification"]["alert_id"] == alert["id"]
    assert json.dumps(console).count(console["notification"]["notification_id"]) == 1
    assert any(line.get("outcome") == "acknowledged" for line in lines)


def test_everything_the_served_process_prints_is_one_json_format(clean_database: str, tmp_path: Path) -> None:
    """uvicorn's own lines (started, shutting down) included, in `alerts serve`."""
    with run_service(clean_database, tmp_path, log_format="json") as svc:
        httpx.post(
            f"{svc.url}/alerts",
            json={"alert_type": "t", "severity": "low", "message": "m", "source": "s"},
            timeout=5,
        )
    lines = [line for line in svc.log.read_text().splitlines() if line.strip()]
    assert any("uvicorn" in line for line in lines)  # the server's own lines are there
    for line in lines:
        record = json.loads(line)  # every line, not only the application's
        assert {"time", "level", "logger", "message"} <= set(record)
