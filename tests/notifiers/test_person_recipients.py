"""A notification to a person (`recipient`, an escalation step's) goes to
that address instead of the channel's own recipients, in every adapter that
can reach a person; everything else about the message stays the channel's.
Real receivers: aiosmtpd, and HTTP servers on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import pytest

from app.notifiers.base import DeliveryError
from app.notifiers.email import EmailNotifier
from app.notifiers.slack_app import SlackAppNotifier
from app.notifiers.sms import SmsNotifier
from app.notifiers.telegram import TelegramNotifier
from app.notifiers.webhook import WebhookNotifier
from app.settings import EmailChannel, SlackChannel, SmsChannel, TelegramChannel, WebhookChannel
from tests.slack_api import CHANNEL_ID, TOKEN, SlackApi

if TYPE_CHECKING:
    import httpx

    from app.notifiers.base import Notification
    from tests.conftest import StartSmtp
    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio


def to(notification: Notification, recipient: str) -> Notification:
    return dataclasses.replace(notification, recipient=recipient)


async def test_email_goes_to_the_person_only(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server()
    config = EmailChannel(
        type="email",
        host="127.0.0.1",
        port=server.port,
        from_address="alerts@example.net",
        to=["team@example.net"],
    )
    notifier = EmailNotifier("mail", config)
    await notifier.send(to(make_notification(), "alice@example.com"))
    await notifier.send(make_notification())
    person, team = server.recorder.delivered
    assert person.rcpt_tos == ["alice@example.com"] and person.message["To"] == "alice@example.com"
    assert team.rcpt_tos == ["team@example.net"]
    assert person.message["Subject"] == team.message["Subject"]


async def test_sms_texts_the_person_only(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(201, body=b'{"sid":"SM1","status":"queued"}')
    config = SmsChannel(
        type="sms",
        account_sid="AC" + "0123456789abcdef" * 2,
        auth_token="twilio-auth-token-0123456789",
        from_number="+15005550006",
        to=["+15559990000", "+15559990001"],
        api_url=http_receiver.url,
    )
    result = await SmsNotifier("texts", config, http_client).send(to(make_notification(), "+15551230001"))
    [request] = http_receiver.requests
    assert parse_qs(request.body.decode())["To"] == ["+15551230001"]
    assert result.detail == "sent to 1 of 1"


async def test_telegram_writes_to_the_persons_chat(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(200, body=b'{"ok":true,"result":{"message_id":1}}')
    config = TelegramChannel(
        type="telegram", bot_token="123456789:AAFsecret-bot_token", chat_id=-100123, api_url=http_receiver.url
    )
    await TelegramNotifier("tg", config, http_client).send(to(make_notification(), "987654"))
    [request] = http_receiver.requests
    assert json.loads(request.body)["chat_id"] == "987654"


async def test_a_webhook_posts_to_the_persons_url(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    config = WebhookChannel(
        type="webhook", url=f"{http_receiver.url}/channel-hook", person_url_prefixes=[f"{http_receiver.url}/"]
    )
    notifier = WebhookNotifier("hooks", config, http_client)
    await notifier.send(to(make_notification(), f"{http_receiver.url}/alice?token=1"))
    await notifier.send(make_notification())
    person, channel = http_receiver.requests
    assert person.path == "/alice?token=1" and channel.path == "/channel-hook"
    assert json.loads(person.body)["recipient"] == f"{http_receiver.url}/alice?token=1"
    assert "recipient" not in json.loads(channel.body)


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    api = SlackApi()
    api.channels["U0ALICE01"] = "D0ALICE01"  # a member id: Slack opens the direct message
    yield api
    api.close()


async def test_a_slack_app_messages_the_person_directly_and_keeps_nothing(
    slack_api: SlackApi, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    config = SlackChannel(type="slack", bot_token=TOKEN, channel=CHANNEL_ID, api_url=slack_api.url)
    notifier = SlackAppNotifier("chat", config, http_client)
    channel_message = await notifier.send(make_notification(reason="new"))
    assert channel_message.reference is not None
    # Even handed the channel's message, a person's notification neither updates nor threads into it.
    direct = dataclasses.replace(to(make_notification(), "U0ALICE01"), reference=channel_message.reference)
    result = await notifier.send(direct)
    assert result.reference is None
    assert slack_api.calls == ["chat.postMessage", "chat.postMessage"]
    assert {m.channel for m in slack_api.messages.values()} == {CHANNEL_ID, "D0ALICE01"}
    assert slack_api.replies == [] and slack_api.problems == []


async def test_a_webhook_calls_no_person_url_outside_its_prefixes(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    config = WebhookChannel(
        type="webhook",
        url=f"{http_receiver.url}/channel-hook",
        person_url_prefixes=["https://pager.example.net/"],
    )
    notifier = WebhookNotifier("hooks", config, http_client)
    with pytest.raises(DeliveryError, match="person_url_prefixes") as refused:
        await notifier.send(to(make_notification(), f"{http_receiver.url}/alice"))
    assert refused.value.permanent
    assert http_receiver.requests == []
