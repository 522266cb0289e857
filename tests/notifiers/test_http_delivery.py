"""Status and transport errors, the same for Slack and webhooks (app.notifiers.http)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import pytest

from app.notifiers.base import DeliveryError, Notifier
from app.notifiers.http import retry_after_seconds
from app.notifiers.slack import SlackNotifier
from app.notifiers.webhook import WebhookNotifier
from app.settings import SlackChannel, WebhookChannel
from tests.peers import free_port

if TYPE_CHECKING:
    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

TOKEN = "XXXXslacktokenXXXX"


def notifier(kind: str, url: str, client: httpx.AsyncClient) -> Notifier:
    if kind == "slack":
        return SlackNotifier("chat", SlackChannel(type="slack", url=f"{url}/services/{TOKEN}"), client)
    return WebhookNotifier("hooks", WebhookChannel(type="webhook", url=f"{url}/h?key={TOKEN}"), client)


KINDS = pytest.mark.parametrize("kind", ["slack", "webhook"])


@pytest.mark.asyncio
@KINDS
@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (502, False), (408, False), (404, True), (400, True), (403, True)],
)
async def test_error_status_maps_to_delivery_error(
    kind: str,
    status: int,
    permanent: bool,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(status, body=b"no_service")

    with pytest.raises(DeliveryError) as info:
        await notifier(kind, http_receiver.url, http_client).send(make_notification())

    assert info.value.permanent is permanent
    assert info.value.retry_after is None
    assert f"HTTP {status}" in str(info.value)
    assert "no_service" in str(info.value)  # the peer's reason helps the operator
    assert TOKEN not in str(info.value)  # the URL is a credential


@pytest.mark.asyncio
@KINDS
@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_passed_on(
    kind: str,
    status: int,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(status, headers={"Retry-After": "7"})

    with pytest.raises(DeliveryError) as info:
        await notifier(kind, http_receiver.url, http_client).send(make_notification())

    assert info.value.retry_after == 7
    assert not info.value.permanent


@pytest.mark.asyncio
@KINDS
async def test_redirect_is_not_followed(
    kind: str, http_receiver: HttpReceiver, make_notification: MakeNotification
) -> None:
    http_receiver.answer(307, headers={"Location": f"{http_receiver.url}/elsewhere"})

    # A client that would follow redirects: the adapter must override it.
    async with httpx.AsyncClient(follow_redirects=True) as client:
        with pytest.raises(DeliveryError) as info:
            await notifier(kind, http_receiver.url, client).send(make_notification())

    assert "HTTP 307" in str(info.value)
    assert info.value.permanent
    assert len(http_receiver.requests) == 1
    assert "/elsewhere" not in http_receiver.requests[0].path


@pytest.mark.asyncio
@KINDS
async def test_connection_refused_is_transient(
    kind: str, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(DeliveryError) as info:
        await notifier(kind, closed, http_client).send(make_notification())

    assert "ConnectError" in str(info.value)
    assert not info.value.permanent
    assert TOKEN not in str(info.value)


@pytest.mark.asyncio
@KINDS
async def test_a_hanging_receiver_is_cut_by_the_callers_timeout(
    kind: str,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(200, delay=5)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await notifier(kind, http_receiver.url, http_client).send(make_notification())

    assert time.monotonic() - started < 1.5
    assert len(http_receiver.requests) == 1  # it did reach the receiver


@pytest.mark.asyncio
async def test_per_phase_timeout_gives_a_transient_error(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(200, delay=5)
    config = WebhookChannel(type="webhook", url=http_receiver.url, timeout_seconds=0.2)

    started = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        await WebhookNotifier("hooks", config, http_client).send(make_notification())

    assert time.monotonic() - started < 1.5
    assert "ReadTimeout" in str(info.value)
    assert not info.value.permanent


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds("Wed, 01 May 2024 12:00:30 GMT", now=now) == 30
    assert retry_after_seconds("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0
    assert retry_after_seconds("-3") == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("inf") is None
    assert retry_after_seconds(None) is None
