"""The shipped default templates say exactly what the adapters said before
templates existed: every reason, a channel test, and the edge cases of the
old title code (no source, no severity, a newline, an overlong type), across
the adapters that word a notification.

data/default_wording.json was captured from the adapters before the wording
became Jinja2 templates; regenerate it only for an intended change of wording
(`python -m tests.notifiers.test_default_templates`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.notifiers import discord, email, opsgenie, pagerduty, render, slack, sms, teams, telegram
from app.notifiers.base import Notification
from app.settings import EmailChannel, OpsgenieChannel
from tests.notifiers.conftest import ALERT_ID, sample_alert

GOLDEN = Path(__file__).parent / "data" / "default_wording.json"
REASONS = ("new", "repeated", "window", "severity", "reopened", "escalation", "repeat", "resolved", "test")
# Every adapter payload is compared for these; titles and messages for every case.
PAYLOAD_CASES = ("new", "escalation", "resolved", "test", "no-source", "long-type")


def _notification(case: str) -> Notification:
    reason = case if case in REASONS else "new"
    alert: dict[str, Any] | None = sample_alert(status="resolved" if reason == "resolved" else "open")
    if case == "test":
        alert = None
    elif case == "no-source":
        alert = sample_alert(source=None, severity=None, message="")
    elif case == "long-type":
        alert = sample_alert(alert_type="x\n" + "y" * 300, labels={"k": "<a href='x'>v</a>"})
    elif case == "resolved":
        alert = sample_alert(status="resolved", resolved_by="amy", resolution_minutes=12.25)
    return Notification(
        id=uuid.UUID(int=REASONS.index(reason) if reason in REASONS else 99),
        channel="ops",
        reason=reason,
        level=3 if reason in ("escalation", "repeat") else 1,
        created_at=datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
        alert=alert,
        alert_url=None if alert is None else f"http://alerts.example/alerts/{ALERT_ID}",
        console_url=None if alert is None else f"http://alerts.example/ui/alerts/{ALERT_ID}",
    )


CASES = (*REASONS, "no-source", "long-type")


def _email(n: Notification) -> dict[str, str]:
    config = EmailChannel(type="email", host="127.0.0.1", to=["oncall@example.com"])
    msg = email.build_message(n, config)
    parts = {part.get_content_type(): part.get_content() for part in msg.iter_parts()}
    return {"subject": str(msg["Subject"]), **parts}


def outputs() -> dict[str, Any]:
    """What the adapters send for every case, as JSON-ready values."""
    opsgenie_config = OpsgenieChannel(type="opsgenie", api_key="k")
    result: dict[str, Any] = {}
    for case in CASES:
        n = _notification(case)
        out: dict[str, Any] = {"title": render.title(n), "message": render.message(n)}
        if case in PAYLOAD_CASES:
            out |= {
                "text_body": render.text_body(n),
                "html_body": render.html_body(n),
                "email": _email(n),
                "slack": slack.build_payload(n),
                "telegram": telegram.build_payload(n, -100),
                "discord": discord.build_payload(n),
                "teams": teams.build_payload(n),
                "pagerduty": pagerduty.build_event(n, "rk"),
                "opsgenie": opsgenie.build_create(n, opsgenie_config),
                "opsgenie_close": opsgenie.build_close(n),
                "sms": sms.build_text(n),
            }
        result[case] = json.loads(json.dumps(out, default=str))
    return result


@pytest.mark.parametrize("case", CASES)
def test_defaults_word_every_case_as_before(case: str) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))[case]
    assert outputs()[case] == expected


def test_the_golden_file_covers_every_reason() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(REASONS) <= set(golden)
    assert golden["escalation"]["title"] == "[CRITICAL] disk_full on db-1 (level 3, escalation)"
    assert golden["test"]["title"] == "Test notification from channel ops"


if __name__ == "__main__":
    GOLDEN.write_text(
        json.dumps(outputs(), indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
