"""Teams: an Adaptive Card in a Workflows webhook message, to a real HTTP receiver."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from app.notifiers.base import DeliveryError
from app.notifiers.teams import CARD_TYPE, TeamsNotifier
from app.settings import TeamsChannel
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

PATH = "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIGsecret"


def teams(receiver: HttpReceiver, client: httpx.AsyncClient) -> TeamsNotifier:
    return TeamsNotifier("teams", TeamsChannel(type="teams", url=f"{receiver.url}{PATH}"), client)


def card(receiver: HttpReceiver, index: int = 0) -> dict[str, Any]:
    message = json.loads(receiver.requests[index].body)
    [attachment] = message["attachments"]
    assert attachment["contentType"] == CARD_TYPE
    content: dict[str, Any] = attachment["content"]
    return content


async def test_adaptive_card_with_facts_and_open_action(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(202, body=b"")
    result = await teams(http_receiver, http_client).send(make_notification())

    assert result.detail == "HTTP 202"
    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", PATH)
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.body)["type"] == "message"
    content = card(http_receiver)
    assert (content["type"], content["version"]) == ("AdaptiveCard", "1.4")
    title, message, facts = content["body"]
    assert title == {
        "type": "RichTextBlock",
        "inlines": [
            {
                "type": "TextRun",
                "text": "[CRITICAL] disk_full on db-1 (level 3, escalation)",
                "size": "Large",
                "weight": "Bolder",
                "color": "Attention",
            }
        ],
    }
    # A text run is never read as Markdown: the text goes as it is.
    assert message["inlines"] == [{"type": "TextRun", "text": "Disk <b>97%</b> full & rising\nsecond line"}]
    shown = {f["title"]: f["value"] for f in facts["facts"]}
    assert {
        "Severity": "critical",
        "Type": "disk_full",
        "Source": "db-1",
        "Level": "3",
    }.items() <= shown.items()
    assert content["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": f"http://alerts.example/ui/alerts/{ALERT_ID}"}
    ]


async def test_resolved_is_good_and_a_test_has_no_action(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = teams(http_receiver, http_client)
    await notifier.send(make_notification(reason="resolved"))
    await notifier.send(make_notification(test=True, reason="test"))
    assert card(http_receiver, 0)["body"][0]["inlines"][0]["color"] == "Good"
    assert "actions" not in card(http_receiver, 1)


async def test_fact_values_cannot_forge_a_link(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await teams(http_receiver, http_client).send(
        make_notification(labels={"runbook": "[docs](http://evil.example)"})
    )
    facts = {f["title"]: f["value"] for f in card(http_receiver)["body"][-1]["facts"]}
    assert "](" not in facts["Labels"]
    assert facts["Labels"].replace("\u200b", "") == "runbook=[docs](http://evil.example)"


@pytest.mark.parametrize(("status", "permanent"), [(429, False), (500, False), (400, True), (404, True)])
async def test_retryable_and_permanent_failures(
    status: int,
    permanent: bool,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(status)
    with pytest.raises(DeliveryError) as caught:
        await teams(http_receiver, http_client).send(make_notification())
    assert caught.value.permanent is permanent
    assert "SIGsecret" not in str(caught.value)


async def test_repr_hides_the_signed_url(http_receiver: HttpReceiver, http_client: httpx.AsyncClient) -> None:
    assert "SIGsecret" not in repr(teams(http_receiver, http_client))
