"""Which channel delivers each contact type (services/oncall/contacts.py),
and the setting that says so, checked at start-up naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from app.services.oncall.contacts import ContactChannels
from app.settings import ConfigError, load_settings

MAIL = {"type": "email", "host": "smtp.example.net", "from_address": "a@example.net", "to": ["t@example.net"]}
TEXTS = {
    "type": "sms",
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "token",
    "from_number": "+15005550006",
    "to": ["+15559990000"],
}
SLACK_APP = {"type": "slack", "bot_token": "xoxb-1-2-abc", "channel": "C0ALERTS01"}
SLACK_HOOK = {"type": "slack", "url": "https://hooks.slack.com/services/T/B/X"}


def settings(channels: dict[str, Any], **mapped: str) -> Any:
    return load_settings(channels=channels, oncall_contact_channels=mapped)


def test_an_unmapped_type_uses_the_only_channel_of_its_type() -> None:
    found = ContactChannels.of(
        settings({"mail": MAIL, "texts": TEXTS, "chat": SLACK_APP, "hook": SLACK_HOOK})
    )
    assert found.channels == {"email": "mail", "sms": "texts", "slack": "chat"}
    assert found.why_not("telegram") == "no telegram channel is configured"
    assert found.why_not("webhook") == "no webhook channel is configured"
    assert found.why_not("phone") == "phone calls are not delivered yet"


def test_a_webhook_reaches_people_only_at_the_urls_its_configuration_allows() -> None:
    hook = {"type": "webhook", "url": "https://hooks.example.net/alerts"}
    closed = ContactChannels.of(settings({"hook": hook, "chat": SLACK_HOOK}))
    assert closed.channel_for("webhook") is None
    assert closed.why_not("webhook") == "no webhook channel reaches a person (one with person_url_prefixes)"
    assert closed.why_not("slack") == "no slack channel reaches a person (an app, not an incoming webhook)"
    with pytest.raises(ConfigError, match="channel 'hook' sets no person_url_prefixes"):
        settings({"hook": hook}, webhook="hook")
    opened = ContactChannels.of(
        settings({"hook": {**hook, "person_url_prefixes": ["https://pager.example.net/people/"]}})
    )
    assert opened.channel_for("webhook") == "hook"
    assert opened.refusal("webhook", "https://pager.example.net/people/alice") is None
    for elsewhere in (
        "https://pager.example.net/admin",
        "https://pager.example.net.evil.test/people/",
        "http://10.0.0.1/",
    ):
        assert "is not under the person_url_prefixes of channel 'hook'" in str(
            opened.refusal("webhook", elsewhere)
        )
    # A prefix without a path would let any host that begins the same way in.
    with pytest.raises(ConfigError, match="person_url_prefixes"):
        settings({"hook": {**hook, "person_url_prefixes": ["https://pager.example.net"]}})


def test_several_channels_of_a_type_need_the_setting() -> None:
    two = {"mail": MAIL, "mail-2": MAIL}
    found = ContactChannels.of(settings(two))
    assert found.channel_for("email") is None
    assert found.why_not("email") == (
        "2 email channels (mail, mail-2) and oncall_contact_channels.email names none"
    )
    assert ContactChannels.of(settings(two, email="mail-2")).channel_for("email") == "mail-2"


@pytest.mark.parametrize(
    ("mapped", "said"),
    [
        ({"email": "nowhere"}, "oncall_contact_channels.email names undeclared channel 'nowhere'"),
        ({"sms": "mail"}, "oncall_contact_channels.sms: channel 'mail' is of type 'email', not 'sms'"),
        ({"slack": "hook"}, "oncall_contact_channels.slack: channel 'hook' is a Slack webhook"),
        ({"phone": "texts"}, "oncall_contact_channels.phone: not a deliverable contact type"),
        ({"pager": "texts"}, "oncall_contact_channels.pager: not a deliverable contact type"),
    ],
)
def test_a_wrong_mapping_stops_start_up_naming_the_key(mapped: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        settings({"mail": MAIL, "texts": TEXTS, "hook": SLACK_HOOK}, **mapped)
