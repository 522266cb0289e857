"""A Slack channel's two modes: exactly one configured, the field at fault
named, its secrets never shown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.notifiers.registry import build_notifiers
from app.notifiers.slack import SlackNotifier
from app.notifiers.slack_app import SlackAppNotifier
from app.settings import ConfigError, SlackChannel, load_settings

TOKEN = "xoxb-1111-2222-TopSecretToken"
SIGNING = "signing-secret-0123456789"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXX"
APP = {"type": "slack", "bot_token": TOKEN, "channel": "#alerts", "signing_secret": SIGNING}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No alerts.toml or ALERTS_* from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("ALERTS_")]:
        monkeypatch.delenv(name)


def test_webhook_mode_and_app_mode() -> None:
    settings = load_settings(channels={"hook": {"type": "slack", "url": WEBHOOK}, "app": APP})
    hook, app = settings.channels["hook"], settings.channels["app"]
    assert isinstance(hook, SlackChannel) and isinstance(app, SlackChannel)
    assert (hook.mode, app.mode) == ("webhook", "app")
    assert app.api_url == "https://slack.com/api"
    import httpx

    notifiers = build_notifiers(settings, httpx.AsyncClient())
    assert isinstance(notifiers["hook"], SlackNotifier)
    assert isinstance(notifiers["app"], SlackAppNotifier)


@pytest.mark.parametrize(
    ("channel", "named"),
    [
        ({"type": "slack"}, "channels.chat.slack.url: set url"),
        ({"type": "slack", "url": WEBHOOK, "bot_token": TOKEN, "channel": "#a"}, "channels.chat.slack.url:"),
        ({"type": "slack", "bot_token": TOKEN}, "channels.chat.slack.channel:"),
        ({"type": "slack", "channel": "#alerts"}, "channels.chat.slack.channel:"),
        ({"type": "slack", "url": WEBHOOK, "signing_secret": SIGNING}, "channels.chat.slack.signing_secret:"),
        ({**APP, "bot_token": "not-a-token"}, "channels.chat.slack.bot_token:"),
        ({**APP, "channel": "#bad name"}, "channels.chat.slack.channel:"),
    ],
)
def test_exactly_one_mode_and_the_field_at_fault_named(channel: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(channels={"chat": channel})
    message = str(caught.value)
    assert named in message
    assert TOKEN not in message and SIGNING not in message


def test_the_missing_half_of_app_mode_is_named() -> None:
    with pytest.raises(ConfigError, match="bot_token is missing"):
        load_settings(channels={"chat": {"type": "slack", "channel": "#alerts"}})
    with pytest.raises(ConfigError, match="channel is missing"):
        load_settings(channels={"chat": {"type": "slack", "bot_token": TOKEN}})


def test_secrets_stay_out_of_repr_and_errors() -> None:
    config = load_settings(channels={"chat": APP}).channels["chat"]
    assert TOKEN not in repr(config) and SIGNING not in repr(config)
    with pytest.raises(ConfigError) as caught:
        load_settings(channels={"chat": {**APP, "url": WEBHOOK}})
    assert TOKEN not in str(caught.value) and SIGNING not in str(caught.value)
    assert TOKEN not in repr(caught.value.__cause__) and SIGNING not in str(caught.value.__cause__)
