"""Registry: one adapter per configured channel, chosen by type."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from app.notifiers.base import DeliveryError
from app.notifiers.console import ConsoleNotifier
from app.notifiers.discord import DiscordNotifier
from app.notifiers.email import EmailNotifier
from app.notifiers.opsgenie import OpsgenieNotifier
from app.notifiers.pagerduty import PagerDutyNotifier
from app.notifiers.registry import build_notifiers
from app.notifiers.slack import SlackNotifier
from app.notifiers.sms import SmsNotifier
from app.notifiers.teams import TeamsNotifier
from app.notifiers.telegram import TelegramNotifier
from app.notifiers.webhook import WebhookNotifier
from app.settings import Settings, load_settings

if TYPE_CHECKING:
    from pathlib import Path

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No alerts.toml or ALERTS_* from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("ALERTS_")]:
        monkeypatch.delenv(name)


def settings_for(url: str) -> Settings:
    return load_settings(
        delivery_timeout_seconds=0.2,
        channels={
            "ops-email": {"type": "email", "host": "127.0.0.1", "to": ["a@example.com"]},
            "chat": {"type": "slack", "url": f"{url}/slack"},
            "hooks": {"type": "webhook", "url": f"{url}/hooks", "method": "PUT"},
        },
    )


@pytest.mark.asyncio
@pytest.mark.usefixtures("isolated")
async def test_one_adapter_per_channel_by_type(
    http_receiver: HttpReceiver, make_notification: MakeNotification
) -> None:
    async with httpx.AsyncClient() as client:
        notifiers = build_notifiers(settings_for(http_receiver.url), client)

        assert {name: type(n) for name, n in notifiers.items()} == {
            "console": ConsoleNotifier,  # always declared
            "ops-email": EmailNotifier,
            "chat": SlackNotifier,
            "hooks": WebhookNotifier,
        }
        assert all(n.name == name for name, n in notifiers.items())

        await notifiers["chat"].send(make_notification())
        await notifiers["hooks"].send(make_notification())

    assert [(r.method, r.path) for r in http_receiver.requests] == [
        ("POST", "/slack"),
        ("PUT", "/hooks"),
    ]


@pytest.mark.asyncio
@pytest.mark.usefixtures("isolated")
async def test_adapters_get_the_default_delivery_timeout(
    http_receiver: HttpReceiver, make_notification: MakeNotification
) -> None:
    http_receiver.answer(200, delay=5)
    async with httpx.AsyncClient(timeout=30) as client:
        notifiers = build_notifiers(settings_for(http_receiver.url), client)
        started = time.monotonic()
        with pytest.raises(DeliveryError):
            await notifiers["hooks"].send(make_notification())

    assert time.monotonic() - started < 1.5  # 0.2 s from settings, not the client's 30


@pytest.mark.asyncio
@pytest.mark.usefixtures("isolated")
async def test_paging_and_chat_types_get_their_adapters(http_receiver: HttpReceiver) -> None:
    url = http_receiver.url
    settings = load_settings(
        channels={
            "pager": {"type": "pagerduty", "routing_key": "rk", "url": f"{url}/v2/enqueue"},
            "genie": {"type": "opsgenie", "api_key": "k", "api_url": url},
            "teams": {"type": "teams", "url": f"{url}/teams"},
            "discord": {"type": "discord", "url": f"{url}/discord"},
            "tg": {"type": "telegram", "bot_token": "1:t", "chat_id": 1, "api_url": url},
            "sms": {
                "type": "sms",
                "account_sid": "AC" + "0" * 32,
                "auth_token": "t",
                "from_number": "+15005550006",
                "to": ["+15551230001"],
                "api_url": url,
                "timeout_seconds": 3,
            },
        },
    )
    async with httpx.AsyncClient() as client:
        notifiers = build_notifiers(settings, client)
    assert {name: type(n) for name, n in notifiers.items()} == {
        "console": ConsoleNotifier,
        "pager": PagerDutyNotifier,
        "genie": OpsgenieNotifier,
        "teams": TeamsNotifier,
        "discord": DiscordNotifier,
        "tg": TelegramNotifier,
        "sms": SmsNotifier,
    }
