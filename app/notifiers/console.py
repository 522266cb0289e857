"""Console channel: one log line per notification.

The line's message is the notification's title (and the alert's link), which
reads well under a plain formatter; the facts ride along once, as
`extra["notification"]`, which the JSON formatter writes as one object.
Only alert facts are logged; a console channel has no secrets, and no other
channel's configuration is in reach.
"""

from __future__ import annotations

import logging
from typing import Any

from app.notifiers import render
from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.templates import ChannelTemplates
from app.settings import ConsoleChannel

logger = logging.getLogger("app.notifiers.console")

# Loud enough to be seen under a WARNING root level when it matters.
_LOUD = {"high", "critical"}


class ConsoleNotifier:
    def __init__(self, name: str, config: ConsoleChannel | None = None) -> None:
        self.name = name
        self._config = config or ConsoleChannel(type="console")
        self._templates = ChannelTemplates.of(name, self._config)

    def __repr__(self) -> str:
        return f"ConsoleNotifier(name={self.name!r})"

    async def send(self, notification: Notification) -> DeliveryResult:
        alert = notification.alert or {}
        words = render.Wording(notification, self._templates)
        fields: dict[str, Any] = {
            "event": "notification",
            "notification_id": str(notification.id),
            "channel": notification.channel,
            "reason": notification.reason,
            "level": notification.level,
            "alert_id": alert.get("id"),
            "fingerprint": alert.get("fingerprint"),
            "severity": alert.get("severity"),
            "alert_type": alert.get("alert_type"),
            "source": alert.get("source"),
            "title": words.title,
            "message": words.message,
            "alert_url": notification.alert_url,
            "console_url": notification.console_url,
        }
        loud = render.severity(notification) in _LOUD and not render.is_resolved(notification)
        url = render.link(notification)
        title = f"{fields['title']} {url}" if url else fields["title"]
        logger.log(logging.WARNING if loud else logging.INFO, title, extra={"notification": fields})
        return DeliveryResult(detail="logged")
