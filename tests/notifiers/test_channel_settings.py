"""Settings of the paging and chat channels: defaults, a bad key named, secrets kept."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.settings import (
    ConfigError,
    DiscordChannel,
    OpsgenieChannel,
    PagerDutyChannel,
    SmsChannel,
    TeamsChannel,
    TelegramChannel,
    load_settings,
)

SID = "AC" + "0123456789abcdef" * 2
SECRETS = {
    "pagerduty": "R0UT1NGKEY-secret",
    "opsgenie": "genie-secret-key",
    "telegram": "123456789:AAFsecret-token",
    "sms": "twilio-secret-token",
}
VALID: dict[str, dict[str, Any]] = {
    "pagerduty": {"type": "pagerduty", "routing_key": SECRETS["pagerduty"]},
    "opsgenie": {"type": "opsgenie", "api_key": SECRETS["opsgenie"]},
    "teams": {"type": "teams", "url": "https://example.webhook.office.com/workflows/x"},
    "discord": {"type": "discord", "url": "https://discord.com/api/webhooks/1/tok"},
    "telegram": {"type": "telegram", "bot_token": SECRETS["telegram"], "chat_id": -100123},
    "sms": {
        "type": "sms",
        "account_sid": SID,
        "auth_token": SECRETS["sms"],
        "from_number": "+15005550006",
        "to": ["+15551230001"],
    },
}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No alerts.toml or ALERTS_* from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("ALERTS_")]:
        monkeypatch.delenv(name)


def test_every_type_loads_with_its_defaults() -> None:
    settings = load_settings(channels=VALID)
    channels = settings.channels
    assert {name: type(c) for name, c in channels.items() if name != "console"} == {
        "pagerduty": PagerDutyChannel,
        "opsgenie": OpsgenieChannel,
        "teams": TeamsChannel,
        "discord": DiscordChannel,
        "telegram": TelegramChannel,
        "sms": SmsChannel,
    }
    pager = channels["pagerduty"]
    assert isinstance(pager, PagerDutyChannel)
    assert pager.url == "https://events.pagerduty.com/v2/enqueue"
    genie = channels["opsgenie"]
    assert isinstance(genie, OpsgenieChannel)
    assert (genie.api_url, genie.responders, genie.tags) == ("https://api.opsgenie.com", [], [])
    telegram = channels["telegram"]
    assert isinstance(telegram, TelegramChannel)
    assert telegram.api_url == "https://api.telegram.org"
    sms = channels["sms"]
    assert isinstance(sms, SmsChannel)
    assert sms.api_url == "https://api.twilio.com"
    # Pagers and chats hear the all-clear; a text message costs and wakes people.
    assert {name: c.send_resolved for name, c in channels.items()} == {
        "console": False,
        "pagerduty": True,
        "opsgenie": True,
        "teams": True,
        "discord": True,
        "telegram": True,
        "sms": False,
    }
    assert all(getattr(c, "timeout_seconds", None) is None for c in channels.values())


def test_secrets_are_secret_and_not_in_repr() -> None:
    settings = load_settings(channels=VALID)
    for name, secret in SECRETS.items():
        config = settings.channels[name]
        assert secret not in repr(config)
        assert secret not in str(config.model_dump())
    pager = settings.channels["pagerduty"]
    assert isinstance(pager, PagerDutyChannel)
    assert isinstance(pager.routing_key, SecretStr)


@pytest.mark.parametrize(
    ("name", "change", "key"),
    [
        ("pagerduty", {"routing_key": None}, "channels.pager.pagerduty.routing_key"),
        ("pagerduty", {"url": "ftp://x"}, "channels.pager.pagerduty.url"),
        ("pagerduty", {"timeout_seconds": 0}, "channels.pager.pagerduty.timeout_seconds"),
        ("opsgenie", {"api_key": None}, "channels.pager.opsgenie.api_key"),
        ("opsgenie", {"responders": [{"type": "team"}]}, "channels.pager.opsgenie.responders.0"),
        (
            "opsgenie",
            {"responders": [{"type": "team", "username": "a"}]},
            "channels.pager.opsgenie.responders.0",
        ),
        (
            "opsgenie",
            {"responders": [{"type": "crew", "name": "a"}]},
            "channels.pager.opsgenie.responders.0.type",
        ),
        ("opsgenie", {"tags": ["t" * 51]}, "channels.pager.opsgenie.tags.0"),
        ("teams", {"url": None}, "channels.pager.teams.url"),
        ("discord", {"url": "discord.com/api/webhooks/1/x"}, "channels.pager.discord.url"),
        ("telegram", {"bot_token": "123:abc/../x"}, "channels.pager.telegram.bot_token"),
        ("telegram", {"chat_id": None}, "channels.pager.telegram.chat_id"),
        ("telegram", {"api_url": "api.telegram.org"}, "channels.pager.telegram.api_url"),
        ("sms", {"account_sid": "AC123"}, "channels.pager.sms.account_sid"),
        ("sms", {"to": []}, "channels.pager.sms.to"),
        ("sms", {"to": ["555-1234"]}, "channels.pager.sms.to.0"),
        ("sms", {"from_number": "0800"}, "channels.pager.sms.from_number"),
        ("sms", {"sender": "+15551230001"}, "channels.pager.sms.sender"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_key(name: str, change: dict[str, Any], key: str) -> None:
    channel = {k: v for k, v in (VALID[name] | change).items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        load_settings(channels={"pager": channel})
    message = str(caught.value)
    assert f"{key}:" in message
    assert all(secret not in message for secret in SECRETS.values())


def test_a_malformed_token_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(channels={"tg": VALID["telegram"] | {"bot_token": "secret/../token"}})
    assert "channels.tg.telegram.bot_token: a bot token looks like" in str(caught.value)
    assert "secret/../token" not in str(caught.value)


def test_responders_and_tags_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(
        """
[channels.genie]
type = "opsgenie"
api_key = "k"
api_url = "https://api.eu.opsgenie.com"
responders = [{ type = "team", name = "SRE" }, { type = "user", username = "ann@example.com" },
              { type = "schedule", id = "4513b7ea-3b91-438f-b7e4-e3e54af9147c" }]
tags = ["prod"]
timeout_seconds = 4
"""
    )
    monkeypatch.setenv("ALERTS_CONFIG_FILE", str(path))
    genie = load_settings().channels["genie"]
    assert isinstance(genie, OpsgenieChannel)
    assert [r.model_dump(exclude_none=True) for r in genie.responders] == [
        {"type": "team", "name": "SRE"},
        {"type": "user", "username": "ann@example.com"},
        {"type": "schedule", "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c"},
    ]
    assert (genie.tags, genie.timeout_seconds) == (["prod"], 4)


def test_chat_id_is_a_number_or_a_channel_username() -> None:
    assert TelegramChannel(**(VALID["telegram"] | {"chat_id": "@oncall_room"})).chat_id == "@oncall_room"
    with pytest.raises(ValueError):
        TelegramChannel(**(VALID["telegram"] | {"chat_id": "oncall room"}))
