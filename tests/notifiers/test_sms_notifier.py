"""SMS: Twilio's Messages API, one short text per number; a retry texts only the rest."""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pytest

from app.notifiers.base import DeliveryError
from app.notifiers.sms import SmsNotifier, build_text
from app.settings import SmsChannel
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789"
FROM = "+15005550006"
ANN, BOB, CAROL = "+15551230001", "+15551230002", "+15551230003"
CREATED = b'{"sid":"SM0123","status":"queued"}'
LINK = f"http://alerts.example/ui/alerts/{ALERT_ID}"


def sms(receiver: HttpReceiver, client: httpx.AsyncClient, **overrides: Any) -> SmsNotifier:
    values: dict[str, Any] = {
        "type": "sms",
        "account_sid": SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM,
        "to": [ANN, BOB],
        "api_url": receiver.url,
    }
    return SmsNotifier("pager-sms", SmsChannel(**(values | overrides)), client)


def form(receiver: HttpReceiver, index: int) -> dict[str, str]:
    parsed = parse_qs(receiver.requests[index].body.decode(), strict_parsing=True)
    return {key: value for key, [value] in parsed.items()}


def recipients(receiver: HttpReceiver) -> list[str]:
    return [form(receiver, i)["To"] for i in range(len(receiver.requests))]


async def test_one_form_post_per_number_with_basic_auth(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(201, body=CREATED)
    result = await sms(http_receiver, http_client).send(make_notification())

    assert result.detail == "sent to 2 of 2"
    assert result.extra == {"sent": [ANN, BOB]}
    basic = "Basic " + base64.b64encode(f"{SID}:{AUTH_TOKEN}".encode()).decode()
    for i, number in enumerate([ANN, BOB]):
        req = http_receiver.requests[i]
        assert (req.method, req.path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
        assert req.headers["content-type"] == "application/x-www-form-urlencoded"
        assert req.headers["authorization"] == basic
        body = form(http_receiver, i)
        assert body == {
            "To": number,
            "From": FROM,
            "Body": f"CRITICAL disk_full on db-1: Disk <b>97%</b> full & rising second line {LINK}",
        }
        assert len(body["Body"]) <= 160


async def test_resolved_and_long_texts_stay_one_sms(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await sms(http_receiver, http_client, to=[ANN]).send(make_notification(reason="resolved"))
    await sms(http_receiver, http_client, to=[ANN]).send(make_notification(message="x" * 500))

    resolved, long = form(http_receiver, 0)["Body"], form(http_receiver, 1)["Body"]
    assert resolved.startswith("RESOLVED disk_full on db-1: ")
    assert len(long) == 160
    assert long.endswith(f"x... {LINK}")
    assert long.isascii()  # "..." rather than an ellipsis, which would make it UCS-2


async def test_a_test_notification_has_no_link(make_notification: MakeNotification) -> None:
    text = build_text(make_notification(test=True, reason="test", channel="pager-sms"))
    assert text == "Test notification from channel pager-sms"


async def test_a_retry_texts_only_the_numbers_that_did_not_get_it(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = sms(http_receiver, http_client, to=[ANN, BOB, CAROL])
    n = make_notification()
    http_receiver.answer_sequence([201, 503, 201])  # Bob's fails; Ann and Carol get it

    with pytest.raises(DeliveryError) as caught:
        await notifier.send(n)
    assert not caught.value.permanent
    assert BOB in str(caught.value) and "HTTP 503" in str(caught.value)
    assert "sent to 2 of 3" in str(caught.value)

    http_receiver.answer(201, body=CREATED)
    result = await notifier.send(n)  # the outbox's retry: the same notification

    assert recipients(http_receiver) == [ANN, BOB, CAROL, BOB]
    assert result.extra == {"sent": [ANN, BOB, CAROL]}

    await notifier.send(make_notification())  # another notification goes to everyone again
    assert recipients(http_receiver)[4:] == [ANN, BOB, CAROL]


async def test_a_number_refused_for_good_is_not_retried_and_is_reported(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = sms(http_receiver, http_client, to=[ANN, BOB, CAROL])
    n = make_notification()
    http_receiver.answer_sequence([400, 429, 201])  # Ann invalid, Bob throttled, Carol fine

    with pytest.raises(DeliveryError) as caught:
        await notifier.send(n)
    assert not caught.value.permanent  # Bob may still get it

    http_receiver.answer(201)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(n)

    assert recipients(http_receiver) == [ANN, BOB, CAROL, BOB]  # Ann once, Carol once
    assert caught.value.permanent  # settled: a wrong number shows on the alert
    message = str(caught.value)
    assert message.startswith(f"{ANN}: POST got HTTP 400")
    assert "sent to 2 of 3; refused numbers are not retried" in message


async def test_every_number_refused_is_permanent(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(401, body=f'{{"message":"Authenticate","token":"{AUTH_TOKEN}"}}'.encode())
    with pytest.raises(DeliveryError) as caught:
        await sms(http_receiver, http_client).send(make_notification())
    assert caught.value.permanent
    assert "sent to 0 of 2" in str(caught.value)
    assert AUTH_TOKEN not in str(caught.value)
    assert "[redacted]" in str(caught.value)


async def test_throttling_passes_retry_after_on_and_hides_the_token(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(429, headers={"Retry-After": "30"}, body=AUTH_TOKEN.encode())
    with pytest.raises(DeliveryError) as caught:
        await sms(http_receiver, http_client).send(make_notification())
    assert not caught.value.permanent
    assert caught.value.retry_after == 30
    assert AUTH_TOKEN not in str(caught.value)


async def test_repr_hides_the_token(http_receiver: HttpReceiver, http_client: httpx.AsyncClient) -> None:
    assert AUTH_TOKEN not in repr(sms(http_receiver, http_client))


async def test_one_row_sent_twice_at_once_settles_without_error(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    # A row whose lease ran out can be claimed again while its first send is
    # still running: both sends finish, whichever settles the row first.
    http_receiver.answer(201, body=CREATED)
    notifier = sms(http_receiver, http_client, to=[ANN])
    notification = make_notification()
    first, second = await asyncio.gather(notifier.send(notification), notifier.send(notification))
    assert first.detail == second.detail == "sent to 1 of 1"
    assert recipients(http_receiver) == [ANN, ANN]
