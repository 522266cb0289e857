"""Telegram: sendMessage in HTML, user text escaped, the bot token never in an error."""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from app.notifiers.base import DeliveryError
from app.notifiers.telegram import TelegramNotifier
from app.settings import TelegramChannel
from tests.notifiers.conftest import ALERT_ID
from tests.peers import free_port

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

TOKEN = "123456789:AAFsecret-bot_token"
CHAT = -1001234567890
OK = b'{"ok":true,"result":{"message_id":42}}'


def telegram(api_url: str, client: httpx.AsyncClient, **overrides: Any) -> TelegramNotifier:
    values: dict[str, Any] = {"type": "telegram", "bot_token": TOKEN, "chat_id": CHAT, "api_url": api_url}
    return TelegramNotifier("tg", TelegramChannel(**(values | overrides)), client)


async def test_send_message_in_html(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(200, body=OK)
    result = await telegram(http_receiver.url, http_client).send(make_notification())

    assert result.detail == "HTTP 200"
    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert req.headers["content-type"] == "application/json"
    payload = json.loads(req.body)
    text = payload.pop("text")
    assert payload == {"chat_id": CHAT, "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
    lines = text.split("\n")
    assert lines[0] == "<b>[CRITICAL] disk_full on db-1 (level 3, escalation)</b>"
    # The alert's own markup is shown, not obeyed.
    assert lines[2:4] == ["Disk &lt;b&gt;97%&lt;/b&gt; full &amp; rising", "second line"]
    assert "<b>Severity:</b> critical" in lines
    assert lines[-1] == f'<a href="http://alerts.example/ui/alerts/{ALERT_ID}">Open the alert</a>'


async def test_html_injection_is_escaped_everywhere(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    evil = '<a href="http://evil.example">click</a></b><i>'
    await telegram(http_receiver.url, http_client, chat_id="@oncall_room").send(
        make_notification(message=evil, source=evil, labels={"x": evil})
    )
    payload = json.loads(http_receiver.requests[0].body)
    assert payload["chat_id"] == "@oncall_room"
    text = payload["text"]
    assert "evil.example" in text
    assert '<a href="http://evil.example">' not in text
    assert "<i>" not in text
    assert "&lt;a href=&quot;http://evil.example&quot;&gt;click&lt;/a&gt;" in text
    # Only our own tags remain.
    tags = {part.split(">")[0].split(" ")[0] for part in text.split("<")[1:]}
    assert tags <= {"b", "/b", "a", "/a"}


async def test_long_text_fits_telegrams_limit(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await telegram(http_receiver.url, http_client).send(
        make_notification(
            message="<" * 10_000, labels={f"k{i}": "&" * 500 for i in range(20)}, details={"d": "x" * 3000}
        )
    )
    text = json.loads(http_receiver.requests[0].body)["text"]
    # Telegram counts what people see: the text without tags and with entities decoded.
    visible = html.unescape(re.sub(r"<[^>]+>", "", text))
    assert len(visible) <= 4096
    assert "&lt;" * 100 in text  # cut before escaping: no half entity


@pytest.mark.parametrize(
    ("status", "permanent"), [(429, False), (500, False), (400, True), (401, True), (403, True)]
)
async def test_failures_never_carry_the_token(
    status: int,
    permanent: bool,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    # Even a peer that echoes the path back cannot put the token in the outbox.
    http_receiver.answer(
        status,
        body=json.dumps({"ok": False, "description": f"no bot at /bot{TOKEN}/sendMessage"}).encode(),
    )
    with pytest.raises(DeliveryError) as caught:
        await telegram(http_receiver.url, http_client).send(make_notification())
    assert caught.value.permanent is permanent
    message = str(caught.value)
    assert TOKEN not in message
    assert "AAFsecret" not in message
    assert "/bot[redacted]/sendMessage" in message
    assert caught.value.__cause__ is None


async def test_transport_failure_does_not_carry_the_token(
    http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await telegram(f"http://127.0.0.1:{free_port()}", http_client).send(make_notification())
    assert not caught.value.permanent
    assert "AAFsecret" not in str(caught.value)
    assert caught.value.__cause__ is None  # the httpx error holds the request URL


async def test_repr_hides_the_token(http_client: httpx.AsyncClient) -> None:
    assert "AAFsecret" not in repr(telegram("http://127.0.0.1:9", http_client))
