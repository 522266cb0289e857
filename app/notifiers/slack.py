"""Slack channel in webhook mode: an incoming-webhook message in Block Kit.
The message layout is shared with app mode (notifiers/slack_app.py).

The blocks live inside one `attachments` entry because only attachments carry
a colour bar, which is how a channel full of alerts is scanned at a glance.
The top-level `text` is the fallback Slack shows in notifications and on
clients that do not render blocks. The webhook URL is a credential: it is
kept out of repr and error messages.
"""

from __future__ import annotations

from typing import Any

from app.notifiers import render
from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, json_bytes, post_json
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import SlackChannel

# Block Kit limits; Slack refuses the whole message when one is exceeded.
_HEADER_MAX = 150
_FIELD_MAX = 2000
_SECTION_MAX = 3000
_FIELDS_MAX = 10


def mrkdwn_escape(text: str) -> str:
    # Slack's only required escapes; stops user text from forging links or mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def build_payload(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    words = render.Wording(notification, templates)
    title, message = words.title, words.message
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(title, _HEADER_MAX)},
        },
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": _cut(f"*{label}*\n{mrkdwn_escape(value)}", _FIELD_MAX),
                }
                for label, value in render.facts(notification)[:_FIELDS_MAX]
            ],
        },
    ]
    if message:
        text = _cut(mrkdwn_escape(message), _SECTION_MAX)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if url := render.link(notification):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{url}|Open the alert>"}})
    return {
        "text": _cut(mrkdwn_escape(f"{title}: {message}" if message else title), _SECTION_MAX),
        "attachments": [{"color": render.colour(notification), "blocks": blocks}],
    }


class SlackNotifier(HttpNotifier[SlackChannel]):
    """Webhook mode; app mode is notifiers/slack_app.py."""

    async def send(self, notification: Notification) -> DeliveryResult:
        assert self._config.url is not None  # webhook mode (registry.py)
        body = json_bytes(build_payload(notification, self._templates))
        return await post_json(
            self._client, "POST", self._config.url, body, {}, request_timeout=self._timeout
        )
