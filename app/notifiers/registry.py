"""Settings -> {channel name: notifier}. A dict is the whole registry.

Each adapter gets its channel's effective timeout (its own `timeout_seconds`,
else `delivery_timeout_seconds`) for the per-phase httpx/SMTP timeouts; the
delivery service still bounds each whole attempt with asyncio.timeout.
"""

from __future__ import annotations

from typing import assert_never

import httpx

from app.notifiers.base import Notifier
from app.notifiers.console import ConsoleNotifier
from app.notifiers.discord import DiscordNotifier
from app.notifiers.email import ActionLinker, EmailNotifier
from app.notifiers.opsgenie import OpsgenieNotifier
from app.notifiers.pagerduty import PagerDutyNotifier
from app.notifiers.slack import SlackNotifier
from app.notifiers.slack_app import SlackAppNotifier
from app.notifiers.sms import SmsNotifier
from app.notifiers.teams import TeamsNotifier
from app.notifiers.telegram import TelegramNotifier
from app.notifiers.webhook import WebhookNotifier
from app.settings import (
    ChannelConfig,
    ConsoleChannel,
    DiscordChannel,
    EmailChannel,
    OpsgenieChannel,
    PagerDutyChannel,
    Settings,
    SlackChannel,
    SmsChannel,
    TeamsChannel,
    TelegramChannel,
    WebhookChannel,
)


def build_notifier(
    name: str,
    config: ChannelConfig,
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    actions: ActionLinker | None = None,
) -> Notifier:
    """`actions`: what makes email's acknowledge and resolve links (none: no links)."""
    if isinstance(config, ConsoleChannel):
        return ConsoleNotifier(name, config)
    timeout = config.timeout_seconds or settings.delivery_timeout_seconds
    if isinstance(config, EmailChannel):
        return EmailNotifier(name, config, timeout=timeout, actions=actions)
    if isinstance(config, SlackChannel):
        if config.mode == "app":
            return SlackAppNotifier(name, config, client, timeout=timeout)
        return SlackNotifier(name, config, client, timeout=timeout)
    if isinstance(config, WebhookChannel):
        return WebhookNotifier(name, config, client, timeout=timeout)
    if isinstance(config, PagerDutyChannel):
        return PagerDutyNotifier(name, config, client, timeout=timeout)
    if isinstance(config, OpsgenieChannel):
        return OpsgenieNotifier(name, config, client, timeout=timeout)
    if isinstance(config, TeamsChannel):
        return TeamsNotifier(name, config, client, timeout=timeout)
    if isinstance(config, DiscordChannel):
        return DiscordNotifier(name, config, client, timeout=timeout)
    if isinstance(config, TelegramChannel):
        return TelegramNotifier(name, config, client, timeout=timeout)
    if isinstance(config, SmsChannel):
        return SmsNotifier(name, config, client, timeout=timeout)
    assert_never(config)


def build_notifiers(
    settings: Settings, client: httpx.AsyncClient, *, actions: ActionLinker | None = None
) -> dict[str, Notifier]:
    return {
        name: build_notifier(name, config, settings, client, actions=actions)
        for name, config in settings.channels.items()
    }
