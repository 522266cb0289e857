"""A digest (flood control) renders on every channel: no single alert, the
folded ones listed most severe first, each with its title and link, cut to
each channel's limits."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from app.notifiers import discord, opsgenie, pagerduty, render, slack, sms, teams, telegram, webhook
from app.notifiers.base import Folded, Notification
from app.notifiers.email import build_message
from app.settings import EmailChannel, OpsgenieChannel
from tests.notifiers.conftest import sample_alert

AT = datetime(2026, 1, 5, 9, 1, tzinfo=UTC)


def folded(i: int, severity: str, reason: str = "new", message: str = "disk filling") -> Folded:
    alert_id = f"00000000-0000-0000-0000-{i:012d}"
    return Folded(
        id=uuid.uuid4(),
        reason=reason,
        level=1,
        created_at=AT,
        alert=sample_alert(id=alert_id, severity=severity, source=f"db-{i}", message=message),
        alert_url=f"http://alerts.example/alerts/{alert_id}",
        console_url=f"http://alerts.example/ui/alerts/{alert_id}",
    )


def digest(items: list[Folded], total: int | None = None) -> Notification:
    return Notification(
        id=uuid.uuid4(),
        channel="ops",
        reason="digest",
        level=1,
        created_at=AT,
        alert=None,
        folded=tuple(items),
        folded_total=len(items) if total is None else total,
    )


ITEMS = [folded(1, "critical"), folded(2, "high"), folded(3, "low", reason="resolved")]


def test_title_message_and_facts() -> None:
    note = digest(ITEMS, total=7)
    assert not render.is_test(note) and render.is_digest(note)
    assert render.title(note) == "[CRITICAL] and 7 more: digest of channel ops"
    lines = render.message(note).split("\n")
    assert lines[0].startswith("7 more notifications")
    assert lines[1] == (
        "- [CRITICAL] disk_full on db-1: disk filling (new) "
        "http://alerts.example/ui/alerts/00000000-0000-0000-0000-000000000001"
    )
    assert lines[3].startswith("- [RESOLVED] disk_full on db-3")
    assert lines[-1] == "\u2026 and 4 more not listed here"
    assert render.facts(note) == [("Channel", "ops"), ("Notifications", "7")]
    assert render.colour(note) == render.SEVERITY_COLOURS["critical"]
    assert render.link(note) is None


def test_a_long_digest_is_cut() -> None:
    items = [folded(i, "high", message="x" * 5_000) for i in range(render.DIGEST_LINES + 30)]
    text = render.message(digest(items, total=500))
    lines = text.split("\n")
    assert len(lines) == render.DIGEST_LINES + 2
    assert all(len(line) < 400 for line in lines)
    assert lines[-1] == f"\u2026 and {500 - render.DIGEST_LINES} more not listed here"


@pytest.mark.parametrize(
    "build",
    [
        lambda n: json.dumps(slack.build_payload(n)),
        lambda n: json.dumps(discord.build_payload(n)),
        lambda n: telegram.build_text(n),
        lambda n: json.dumps(teams.build_payload(n)),
        lambda n: json.dumps(pagerduty.build_event(n, "key")),
        lambda n: json.dumps(opsgenie.build_create(n, OpsgenieChannel(type="opsgenie", api_key="k"))),
        lambda n: build_message(n, EmailChannel(type="email", host="mx", to=["a@x.test"])).as_string(),
        lambda n: sms.build_text(n),
    ],
    ids=["slack", "discord", "telegram", "teams", "pagerduty", "opsgenie", "email", "sms"],
)
def test_every_channel_renders_a_digest(build) -> None:  # type: ignore[no-untyped-def]
    text = build(digest(ITEMS, total=7))
    assert "and 7 more" in text
    assert "Test notification" not in text


def test_a_webhook_gets_the_folded_notifications_as_json() -> None:
    note = digest(ITEMS)
    payload = webhook.build_payload(note)
    assert payload["reason"] == "digest" and payload["alert"] is None
    assert [item["notification_id"] for item in payload["digest"]] == [str(i.id) for i in ITEMS]
    assert payload["digest"][0]["alert"]["severity"] == "critical"
    assert payload["digest"][0]["console_url"].endswith("000000000001")
    assert "digest" not in webhook.build_payload(Notification(uuid.uuid4(), "ops", "test", 1, AT, None))
