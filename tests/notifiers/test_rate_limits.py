"""Providers' rate-limit answers, as each provider words them, read by the
shared HTTP path (app/notifiers/http.py): the wait they state, and whether
they are a rate limit at all (the outbox then pauses the whole channel)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from app.notifiers.base import DeliveryError
from app.notifiers.discord import DiscordNotifier
from app.notifiers.http import post_json
from app.notifiers.opsgenie import OpsgenieNotifier
from app.notifiers.pagerduty import PagerDutyNotifier
from app.notifiers.slack import SlackNotifier
from app.notifiers.sms import SmsNotifier
from app.notifiers.telegram import TelegramNotifier
from app.settings import (
    DiscordChannel,
    OpsgenieChannel,
    PagerDutyChannel,
    SlackChannel,
    SmsChannel,
    TelegramChannel,
)

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

TOKEN = "123456789:AAFsecret-bot_token"
# Telegram's flood-control answer (Bot API: ResponseParameters.retry_after).
TELEGRAM_429 = {
    "ok": False,
    "error_code": 429,
    "description": "Too Many Requests: retry after 30",
    "parameters": {"retry_after": 30},
}
# Discord's (seconds, a float, since API v8), with its header rounded up.
DISCORD_429 = {"message": "You are being rate limited.", "retry_after": 12.5, "global": False}
# Twilio's: code 20429, no Retry-After.
TWILIO_429 = {
    "code": 20429,
    "message": "Too Many Requests",
    "more_info": "https://www.twilio.com/docs/errors/20429",
    "status": 429,
}
JSON = {"Content-Type": "application/json"}


async def refusal(coro: object) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await coro  # type: ignore[misc]
    return caught.value


async def test_telegram_retry_after_in_the_body(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(429, headers=JSON, body=json.dumps(TELEGRAM_429).encode())
    config = TelegramChannel(type="telegram", bot_token=TOKEN, chat_id=42, api_url=http_receiver.url)
    error = await refusal(TelegramNotifier("tg", config, http_client).send(make_notification()))
    assert (error.retry_after, error.rate_limited, error.permanent) == (30.0, True, False)
    assert TOKEN not in str(error)


async def test_telegram_error_code_429_is_a_rate_limit_whatever_the_status(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient
) -> None:
    """A 400 would be permanent; Telegram's own code says it is flood control."""
    http_receiver.answer(400, headers=JSON, body=json.dumps(TELEGRAM_429).encode())
    error = await refusal(post_json(http_client, "POST", http_receiver.url, b"{}", {}))
    assert (error.retry_after, error.rate_limited, error.permanent) == (30.0, True, False)


async def test_discord_retry_after_is_a_float_of_seconds(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(429, headers=JSON, body=json.dumps(DISCORD_429).encode())
    config = DiscordChannel(type="discord", url=http_receiver.url + "/api/webhooks/1/x")
    error = await refusal(DiscordNotifier("dc", config, http_client).send(make_notification()))
    assert (error.retry_after, error.rate_limited) == (12.5, True)


async def test_the_longest_stated_wait_wins(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient
) -> None:
    http_receiver.answer(429, headers=JSON | {"Retry-After": "13"}, body=json.dumps(DISCORD_429).encode())
    error = await refusal(post_json(http_client, "POST", http_receiver.url, b"{}", {}))
    assert error.retry_after == 13.0


async def test_slack_429_with_retry_after(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(429, headers={"Retry-After": "7"}, body=b"rate_limited")
    config = SlackChannel(type="slack", url=http_receiver.url + "/services/T0/B0/x")
    error = await refusal(SlackNotifier("chat", config, http_client).send(make_notification()))
    assert (error.retry_after, error.rate_limited, error.permanent) == (7.0, True, False)


async def test_twilio_20429_is_a_rate_limit_without_a_wait(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(429, headers=JSON, body=json.dumps(TWILIO_429).encode())
    config = SmsChannel(
        type="sms",
        account_sid="AC" + "0123456789abcdef" * 2,
        auth_token="twilio-secret-token",
        from_number="+15005550006",
        to=["+15551230001"],
        api_url=http_receiver.url,
    )
    error = await refusal(SmsNotifier("sms", config, http_client).send(make_notification()))
    assert (error.retry_after, error.rate_limited, error.permanent) == (None, True, False)


@pytest.mark.parametrize("kind", ["pagerduty", "opsgenie"])
async def test_paging_services_429_is_a_rate_limit(
    kind: str,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(429, headers=JSON, body=b'{"status":"throttle","message":"Too Many Requests"}')
    notifier: PagerDutyNotifier | OpsgenieNotifier
    if kind == "pagerduty":
        pd = PagerDutyChannel(type="pagerduty", routing_key="R0UT1NGKEY", url=http_receiver.url)
        notifier = PagerDutyNotifier("pd", pd, http_client)
    else:
        og = OpsgenieChannel(type="opsgenie", api_key="genie-key", api_url=http_receiver.url)
        notifier = OpsgenieNotifier("og", og, http_client)
    error = await refusal(notifier.send(make_notification()))
    assert (error.retry_after, error.rate_limited, error.permanent) == (None, True, False)


@pytest.mark.parametrize(
    "body",
    [
        b'{"retry_after": "soon"}',
        b'{"retry_after": true}',
        b'{"retry_after": -5}',
        b'{"parameters": "x", "code": true}',
        b"[1, 2]",
        b"\xff\xfe not json",
    ],
)
async def test_odd_bodies_state_no_wait_and_a_plain_error_stays_plain(
    body: bytes, http_receiver: HttpReceiver, http_client: httpx.AsyncClient
) -> None:
    http_receiver.answer(503, headers=JSON, body=body)
    error = await refusal(post_json(http_client, "POST", http_receiver.url, b"{}", {}))
    assert error.retry_after in (None, 0.0) and not error.rate_limited and not error.permanent
    http_receiver.answer(404, headers=JSON, body=body)
    error = await refusal(post_json(http_client, "POST", http_receiver.url, b"{}", {}))
    assert error.permanent and not error.rate_limited
