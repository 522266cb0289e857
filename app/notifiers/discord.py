"""Discord channel: one embed per notification, posted to a channel webhook.

The embed is coloured by severity, titled like every other channel, links to
the alert's page in the web console (`url`), and lists the facts as fields.
Discord refuses a whole message that breaks one of its limits, so every part
is cut to fit: title 256, description 4096, field names 256 and values 1024,
25 fields, 6000 characters in all (the description gives way first, then the
last fields). Discord reads Markdown there, masked links included, so user
text goes through render.unlink: an alert cannot dress a link up as another.
`allowed_mentions` is empty, so an alert whose text says @everyone pings
nobody. The webhook URL holds the webhook's token and is kept
out of repr and errors.
"""

from __future__ import annotations

from typing import Any

from app.notifiers import render
from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, json_bytes, post_json
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import DiscordChannel

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
EMBED_MAX = 6000  # title, description and every field name and value together
# Long facts (labels, details) take the whole row; short ones sit three abreast.
_INLINE_UNDER = 40


def colour(notification: Notification) -> int:
    """Discord wants the RGB colour as an integer."""
    return int(render.colour(notification).lstrip("#"), 16)


def _size(embed: dict[str, Any]) -> int:
    fields = embed.get("fields", [])
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
    )


def build_embed(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    words = render.Wording(notification, templates)
    fields = [
        {
            "name": render.cut(label, FIELD_NAME_MAX),
            "value": render.cut(render.unlink(value), FIELD_VALUE_MAX),
            "inline": len(value) < _INLINE_UNDER,
        }
        for label, value in render.facts(notification)[:FIELDS_MAX]
    ]
    embed: dict[str, Any] = {
        "title": render.cut(render.unlink(words.title), TITLE_MAX),
        "description": render.cut(render.unlink(words.message), DESCRIPTION_MAX),
        "color": colour(notification),
        "fields": fields,
        "timestamp": notification.created_at.isoformat(),
    }
    if url := render.link(notification):
        embed["url"] = url
    if (over := _size(embed) - EMBED_MAX) > 0:
        embed["description"] = render.cut(embed["description"], max(0, len(embed["description"]) - over))
    while _size(embed) > EMBED_MAX and fields:
        fields.pop()
    if not embed["description"]:
        del embed["description"]  # Discord refuses an empty one
    return embed


def build_payload(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    return {"embeds": [build_embed(notification, templates)], "allowed_mentions": {"parse": []}}


class DiscordNotifier(HttpNotifier[DiscordChannel]):
    async def send(self, notification: Notification) -> DeliveryResult:
        body = json_bytes(build_payload(notification, self._templates))
        return await post_json(
            self._client, "POST", self._config.url, body, {}, request_timeout=self._timeout
        )
