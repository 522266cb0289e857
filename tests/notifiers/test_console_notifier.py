"""Console: one JSON line per notification, alert facts only."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from app.logs import JsonFormatter
from app.notifiers.console import ConsoleNotifier
from app.notifiers.registry import build_notifiers
from app.settings import load_settings

if TYPE_CHECKING:
    from tests.notifiers.conftest import MakeNotification

pytestmark = pytest.mark.asyncio


async def test_one_json_line_with_the_alert_facts(
    make_notification: MakeNotification, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = ConsoleNotifier("console")
    n = make_notification(reason="new", level=1)
    caplog.set_level(logging.INFO, logger="app.notifiers.console")

    result = await notifier.send(n)

    records = [r for r in caplog.records if r.name == "app.notifiers.console"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert "\n" not in line  # the alert message has a newline; the log line must not
    fields = records[0].notification  # type: ignore[attr-defined]
    assert line == f"{fields['title']} {n.console_url}"  # the link a person follows
    assert (fields["console_url"], fields["alert_url"]) == (n.console_url, n.alert_url)
    # Through the JSON formatter the facts appear once, not also inside the message.
    formatted = JsonFormatter().format(records[0])
    assert formatted.count(str(n.id)) == 1 and json.loads(formatted)["notification"] == json.loads(
        json.dumps(fields, default=str)
    )
    assert fields["notification_id"] == str(n.id)
    assert n.alert is not None
    assert fields["alert_id"] == n.alert["id"]
    assert fields["fingerprint"] == "f" * 64
    assert (fields["channel"], fields["reason"], fields["level"]) == ("ops", "new", 1)
    assert (fields["severity"], fields["alert_type"]) == ("critical", "disk_full")
    assert fields["message"].startswith("Disk <b>97%</b>")
    assert records[0].levelno == logging.WARNING  # critical stands out
    assert result.detail == "logged"


async def test_no_secret_reaches_the_log(
    make_notification: MakeNotification,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALERTS_CONFIG_FILE", raising=False)
    settings = load_settings(
        channels={
            "mail": {
                "type": "email",
                "host": "smtp.example",
                "to": ["a@example.com"],
                "password": "smtp-pass-123",
            },
            "hooks": {
                "type": "webhook",
                "url": "https://h.example/x",
                "secret": "hook-secret-456",
            },
        }
    )
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient() as client:
        notifiers = build_notifiers(settings, client)
        await notifiers["console"].send(make_notification(severity="low"))

    assert "disk_full" in caplog.text
    assert "smtp-pass-123" not in caplog.text
    assert "hook-secret-456" not in caplog.text
    mine = [r.levelno for r in caplog.records if r.name == "app.notifiers.console"]
    assert mine == [logging.INFO]  # a low alert is not shouted


async def test_channel_test_notification_logs_without_alert(
    make_notification: MakeNotification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.notifiers.console")
    await ConsoleNotifier("console").send(make_notification(test=True, reason="test"))
    fields = caplog.records[-1].notification  # type: ignore[attr-defined]
    assert fields["alert_id"] is None
    assert fields["title"] == "Test notification from channel ops"
