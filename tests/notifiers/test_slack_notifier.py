"""Slack: Block Kit in a coloured attachment, posted to a real HTTP receiver."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from app.notifiers import render
from app.notifiers.slack import SlackNotifier
from app.settings import SlackChannel
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

TOKEN = "T000/B000/XXXXsecretXXXX"


def slack(receiver: HttpReceiver, client: httpx.AsyncClient) -> SlackNotifier:
    config = SlackChannel(type="slack", url=f"{receiver.url}/services/{TOKEN}")
    return SlackNotifier("chat", config, client)


async def test_block_kit_message_with_colour_fields_and_link(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    n = make_notification()

    result = await slack(http_receiver, http_client).send(n)

    assert result.detail == "HTTP 200"
    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", f"/services/{TOKEN}")
    assert req.headers["content-type"] == "application/json"
    payload = json.loads(req.body)
    title = "[CRITICAL] disk_full on db-1 (level 3, escalation)"
    assert payload["text"].startswith(title)  # the notification fallback
    [attachment] = payload["attachments"]
    assert attachment["color"] == render.SEVERITY_COLOURS["critical"]
    header, facts, message, link = attachment["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": title}}
    shown = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in facts["fields"]}
    assert {
        "*Severity*": "critical",
        "*Type*": "disk_full",
        "*Source*": "db-1",
        "*Level*": "3",
        "*Status*": "open",
        "*Occurrences*": "4",
    }.items() <= shown.items()
    assert all(f["type"] == "mrkdwn" for f in facts["fields"])
    # User text cannot forge Slack links or mentions.
    assert message["text"]["text"].startswith("Disk &lt;b&gt;97%&lt;/b&gt; full &amp;")
    # The alert's page in the web console, not the API's JSON.
    assert link["text"]["text"] == f"<http://alerts.example/ui/alerts/{ALERT_ID}|Open the alert>"


async def test_resolved_is_green_and_low_is_not_red(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    notifier = slack(http_receiver, http_client)
    await notifier.send(make_notification(reason="resolved"))
    await notifier.send(make_notification(severity="low", reason="new", level=1))

    colours = [json.loads(r.body)["attachments"][0]["color"] for r in http_receiver.requests]
    assert colours == [render.RESOLVED_COLOUR, render.SEVERITY_COLOURS["low"]]


async def test_channel_test_message_has_no_link(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    await slack(http_receiver, http_client).send(make_notification(test=True, reason="test", channel="chat"))
    payload = json.loads(http_receiver.requests[0].body)
    blocks = payload["attachments"][0]["blocks"]
    assert blocks[0]["text"]["text"] == "Test notification from channel chat"
    assert "Open the alert" not in json.dumps(blocks)


async def test_a_long_message_is_cut_to_slack_limits(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    n = make_notification(message="x" * 5000, alert_type="t" * 300)
    await slack(http_receiver, http_client).send(n)
    blocks = json.loads(http_receiver.requests[0].body)["attachments"][0]["blocks"]
    assert len(blocks[0]["text"]["text"]) <= 150
    assert len(blocks[2]["text"]["text"]) <= 3000


async def test_repr_hides_the_webhook_url(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient
) -> None:
    assert "secret" not in repr(slack(http_receiver, http_client))
