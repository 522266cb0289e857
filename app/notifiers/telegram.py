"""Telegram channel: the Bot API's sendMessage, formatted as HTML.

`parse_mode: "HTML"` gives a bold title and a real link; every piece of user
text goes through html.escape first, so an alert saying `<a href=...>` shows
those characters and cannot add a link or break the markup (Telegram refuses
a message whose tags do not parse). Telegram counts its 4096-character limit
after parsing, on the text people see, so the parts are cut before they are
escaped: a cut never splits an entity.

The bot token is part of the URL path ({api_url}/bot{token}/sendMessage).
It is scrubbed from every error message (http.py), httpx's request log is
silenced by the app's logging set-up, and the notifier's repr leaves it out.
"""

from __future__ import annotations

from html import escape
from typing import Any

from app.notifiers import render
from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, json_bytes, post_json
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import TelegramChannel

# Visible characters: title (200) + message + facts stay under Telegram's 4096.
_MESSAGE_MAX = 1500
_FACT_MAX = 120


def build_text(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> str:
    words = render.Wording(notification, templates)
    lines = [f"<b>{escape(words.title)}</b>"]
    if message := words.message:
        lines += ["", escape(render.cut(message, _MESSAGE_MAX))]
    lines.append("")
    lines += [
        f"<b>{escape(label)}:</b> {escape(render.cut(value, _FACT_MAX))}"
        for label, value in render.facts(notification)
    ]
    if url := render.link(notification):
        lines += ["", f'<a href="{escape(url, quote=True)}">Open the alert</a>']
    return "\n".join(lines)


def build_payload(
    notification: Notification, chat_id: int | str, templates: ChannelTemplates = DEFAULTS
) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "text": build_text(notification, templates),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }


class TelegramNotifier(HttpNotifier[TelegramChannel]):
    def __repr__(self) -> str:
        return f"TelegramNotifier(name={self.name!r}, chat_id={self._config.chat_id!r})"

    async def send(self, notification: Notification) -> DeliveryResult:
        token = self._config.bot_token.get_secret_value()
        url = f"{self._config.api_url.rstrip('/')}/bot{token}/sendMessage"
        chat_id = notification.recipient or self._config.chat_id  # a person's chat, else the channel's
        body = json_bytes(build_payload(notification, chat_id, self._templates))
        return await post_json(
            self._client, "POST", url, body, {}, request_timeout=self._timeout, secrets=[token]
        )
