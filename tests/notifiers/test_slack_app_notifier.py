"""Slack in app mode: one message per alert, posted then updated, against a
stand-in for Slack's Web API that checks requests as Slack documents them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from app.notifiers import render
from app.notifiers.base import DeliveryError, Notification
from app.notifiers.slack_app import ACKNOWLEDGE, RESOLVE, SlackAppNotifier
from app.settings import SlackChannel
from tests.notifiers.conftest import ALERT_ID
from tests.notifiers.test_digest_render import AT, folded
from tests.slack_api import CHANNEL_ID, CHANNEL_NAME, TOKEN, SlackApi

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification

pytestmark = pytest.mark.asyncio

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    api = SlackApi()
    yield api
    api.close()


def app_notifier(api: SlackApi, client: httpx.AsyncClient, **overrides: Any) -> SlackAppNotifier:
    values: dict[str, Any] = {
        "type": "slack",
        "bot_token": TOKEN,
        "channel": CHANNEL_NAME,
        "api_url": api.url,
        "signing_secret": SIGNING_SECRET,
    }
    return SlackAppNotifier("chat", SlackChannel(**(values | overrides)), client)


async def test_the_first_notification_posts_a_message_and_keeps_its_reference(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    result = await app_notifier(slack_api, http_client).send(make_notification(reason="new", level=1))

    assert slack_api.problems == []
    assert slack_api.calls == ["chat.postMessage"]
    [request] = slack_api.receiver.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    body = json.loads(request.body)
    assert body["channel"] == CHANNEL_NAME
    message = slack_api.only_message()
    assert result.reference == {"channel": CHANNEL_ID, "ts": message.ts}
    assert message.header() == "[CRITICAL] disk_full on db-1 (level 1, new)"
    assert message.attachments[0]["color"] == render.SEVERITY_COLOURS["critical"]
    assert message.facts()["Status"] == "open"
    assert message.buttons() == {ACKNOWLEDGE: ALERT_ID, RESOLVE: ALERT_ID}


async def test_acknowledged_updates_the_message_without_a_reply(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = app_notifier(slack_api, http_client)
    first = await notifier.send(make_notification(reason="new", level=1))
    acknowledged = replace(
        make_notification(reason="acknowledged", level=1, status="acknowledged", acknowledged_by="bob"),
        reference=first.reference,
    )

    result = await notifier.send(acknowledged)

    assert slack_api.problems == []
    assert slack_api.calls == ["chat.postMessage", "chat.update"]
    assert result.reference is None  # the same message: nothing new to keep
    update = json.loads(slack_api.receiver.requests[1].body)
    assert (update["channel"], update["ts"]) == (CHANNEL_ID, slack_api.only_message().ts)
    message = slack_api.only_message()
    assert message.versions == 2
    assert (message.facts()["Status"], message.facts()["Acknowledged by"]) == ("acknowledged", "bob")
    assert message.buttons() == {RESOLVE: ALERT_ID}  # acknowledging again is not a move
    assert slack_api.replies == []


async def test_an_escalation_updates_and_replies_in_the_thread(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = app_notifier(slack_api, http_client)
    first = await notifier.send(make_notification(reason="new", level=1))

    await notifier.send(replace(make_notification(reason="escalation", level=3), reference=first.reference))

    assert slack_api.problems == []
    assert slack_api.calls == ["chat.postMessage", "chat.update", "chat.postMessage"]
    message = slack_api.only_message()
    assert message.facts()["Level"] == "3"
    [reply] = slack_api.replies
    assert reply.thread_ts == message.ts
    assert reply.text.startswith("[CRITICAL] disk_full on db-1 (level 3, escalation): Disk &lt;b&gt;")
    assert reply.reply_broadcast is False


async def test_a_reopen_reply_is_broadcast_to_the_channel(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = app_notifier(slack_api, http_client)
    first = await notifier.send(make_notification(reason="new", level=1))
    await notifier.send(
        replace(make_notification(reason="reopened", level=1, status="reopened"), reference=first.reference)
    )
    [reply] = slack_api.replies
    assert reply.reply_broadcast is True


async def test_resolved_turns_green_and_drops_the_buttons(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = app_notifier(slack_api, http_client)
    first = await notifier.send(make_notification(reason="new", level=1))
    await notifier.send(
        replace(
            make_notification(reason="resolved", level=1, status="resolved", resolved_by="carol"),
            reference=first.reference,
        )
    )
    message = slack_api.only_message()
    assert message.attachments[0]["color"] == render.RESOLVED_COLOUR
    assert message.header().startswith("[RESOLVED]")
    assert message.facts()["Resolved by"] == "carol"
    assert message.buttons() == {}
    assert slack_api.replies == []


async def test_a_message_deleted_in_slack_is_posted_anew(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = app_notifier(slack_api, http_client)
    first = await notifier.send(make_notification(reason="new", level=1))
    assert first.reference is not None
    slack_api.delete(first.reference["ts"])

    again = await notifier.send(
        replace(make_notification(reason="escalation", level=2), reference=first.reference)
    )

    assert slack_api.calls == ["chat.postMessage", "chat.update", "chat.postMessage"]
    message = slack_api.only_message()
    assert again.reference == {"channel": CHANNEL_ID, "ts": message.ts}
    assert message.ts != first.reference["ts"]
    assert slack_api.replies == []  # the new message notifies by itself


async def test_no_buttons_without_a_signing_secret(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await app_notifier(slack_api, http_client, signing_secret=None).send(make_notification(reason="new"))
    assert slack_api.only_message().buttons() == {}


async def test_a_channel_test_posts_and_keeps_nothing(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    result = await app_notifier(slack_api, http_client).send(
        make_notification(test=True, reason="test", channel="chat")
    )
    assert result.reference is None
    assert slack_api.only_message().header() == "Test notification from channel chat"
    assert slack_api.only_message().buttons() == {}


async def test_a_digest_posts_a_plain_message_and_keeps_nothing(
    slack_api: SlackApi, http_client: httpx.AsyncClient
) -> None:
    # Many alerts in one message: none for a later notification to update.
    items = [folded(1, "high"), folded(2, "critical")]
    note = Notification(
        id=uuid.uuid4(),
        channel="chat",
        reason="digest",
        level=1,
        created_at=AT,
        alert=None,
        folded=(items[1], items[0]),  # most severe first, as the claim hands them
        folded_total=5,
    )
    result = await app_notifier(slack_api, http_client).send(note)

    assert slack_api.problems == []
    assert slack_api.calls == ["chat.postMessage"]
    assert result.reference is None
    message = slack_api.only_message()
    assert message.header() == "[CRITICAL] and 5 more: digest of channel chat"
    assert message.buttons() == {}
    assert "db-2" in json.dumps(message.attachments)


async def test_the_channel_templates_word_the_message_and_its_replies(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = app_notifier(
        slack_api,
        http_client,
        title_template="{{ alert.alert_type }} at {{ alert.source }} ({{ notification.reason }})",
        body_template="Look at {{ alert.source }} <now>",
    )
    first = await notifier.send(make_notification(reason="new", level=1))
    await notifier.send(replace(make_notification(reason="escalation", level=2), reference=first.reference))

    assert slack_api.problems == []
    message = slack_api.only_message()
    assert message.header() == "disk_full at db-1 (escalation)"
    assert "Look at db-1 &lt;now&gt;" in json.dumps(message.attachments)
    [reply] = slack_api.replies
    assert reply.text == "disk_full at db-1 (escalation): Look at db-1 &lt;now&gt;"


@pytest.mark.parametrize(
    ("error", "status", "permanent"),
    [
        ("invalid_auth", 200, True),
        ("not_authed", 200, True),
        ("account_inactive", 200, True),
        ("channel_not_found", 200, True),
        ("missing_scope", 200, True),
        ("invalid_blocks", 200, True),
        ("internal_error", 200, False),
        ("fatal_error", 500, False),
        ("something_new", 200, False),
    ],
)
async def test_slack_errors_are_permanent_or_retried(
    error: str,
    status: int,
    permanent: bool,
    slack_api: SlackApi,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    slack_api.fail_next(error, status=status)
    with pytest.raises(DeliveryError) as caught:
        await app_notifier(slack_api, http_client).send(make_notification(reason="new"))
    assert caught.value.permanent is permanent
    assert "chat.postMessage" in str(caught.value)
    if status == 200:
        assert error in str(caught.value)
    assert TOKEN not in str(caught.value)


async def test_a_rate_limit_is_retried_after_the_time_slack_asks(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    slack_api.fail_next("ratelimited", status=429, retry_after="30")
    with pytest.raises(DeliveryError) as caught:
        await app_notifier(slack_api, http_client).send(make_notification(reason="new"))
    # A rate limit: the whole channel pauses (flood control), not only this row.
    assert (caught.value.permanent, caught.value.retry_after, caught.value.rate_limited) == (False, 30, True)
    # Also when Slack says it in the body only.
    slack_api.fail_next("ratelimited", retry_after="4")
    with pytest.raises(DeliveryError) as caught:
        await app_notifier(slack_api, http_client).send(make_notification(reason="new"))
    assert (caught.value.permanent, caught.value.retry_after, caught.value.rate_limited) == (False, 4, True)
    # Slack's own trouble is no rate limit.
    slack_api.fail_next("internal_error")
    with pytest.raises(DeliveryError) as caught:
        await app_notifier(slack_api, http_client).send(make_notification(reason="new"))
    assert caught.value.rate_limited is False


async def test_a_wrong_token_is_refused_by_slack_and_never_shown(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    other = "xoxb-999-888-OtherToken"
    notifier = app_notifier(slack_api, http_client, bot_token=other)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(make_notification(reason="new"))
    assert caught.value.permanent is True
    assert "invalid_auth" in str(caught.value)
    assert other not in str(caught.value)
    assert other not in repr(notifier) and SIGNING_SECRET not in repr(notifier)
