"""Microsoft Teams channel: an Adaptive Card posted to a Workflows webhook.

Teams' Workflows ("When a Teams webhook request is received", then "Post
card in a chat or channel") take a message whose `attachments` hold the
card. The card shows the title in the severity's colour, the message, the
facts, and an "Open" button to the alert's page in the web console.

User text must not forge a link. Title and message go in a RichTextBlock,
whose text runs are never read as Markdown. Teams does read fact values as
Markdown, and its clients render Markdown escapes differently, so there a
zero-width space goes between "]" and "(": no `[text](url)` link can form and
the text reads the same. The flow answers 202 before it posts the
card; its URL carries a signature and is kept out of repr and errors.
"""

from __future__ import annotations

from typing import Any

from app.notifiers import render
from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, json_bytes, post_json
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import TeamsChannel

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
# Adaptive Card text colours, named: the host picks the shade for its theme.
COLOURS = {
    "critical": "Attention",
    "high": "Attention",
    "medium": "Warning",
    "low": "Accent",
    "info": "Accent",
}
# A Teams message holds about 28 KB; the message body is kept well inside it.
_MESSAGE_MAX = 4_000


def _colour(notification: Notification) -> str:
    if render.is_test(notification):
        return "Default"
    if render.is_resolved(notification):
        return "Good"
    return COLOURS.get(render.severity(notification), "Default")


def build_card(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    words = render.Wording(notification, templates)
    title = {
        "type": "TextRun",
        "text": words.title,
        "size": "Large",
        "weight": "Bolder",
        "color": _colour(notification),
    }
    body: list[dict[str, Any]] = [{"type": "RichTextBlock", "inlines": [title]}]
    if message := words.message:
        text = {"type": "TextRun", "text": render.cut(message, _MESSAGE_MAX)}
        body.append({"type": "RichTextBlock", "inlines": [text]})
    facts = [{"title": label, "value": render.unlink(value)} for label, value in render.facts(notification)]
    body.append({"type": "FactSet", "facts": facts})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if url := render.link(notification):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": url}]
    return card


def build_payload(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    card = build_card(notification, templates)
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


class TeamsNotifier(HttpNotifier[TeamsChannel]):
    async def send(self, notification: Notification) -> DeliveryResult:
        body = json_bytes(build_payload(notification, self._templates))
        return await post_json(
            self._client, "POST", self._config.url, body, {}, request_timeout=self._timeout
        )
