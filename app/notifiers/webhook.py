"""Webhook channel: the alert as JSON, signed when a secret is configured.

The body is serialised once and those exact bytes are both signed and sent, so
a receiver can verify `X-Alert-Signature: sha256=<hex>` with
hmac.new(secret, raw_body, sha256) before parsing anything. Deliveries are
at-least-once: `Idempotency-Key` (the notification id, stable across retries)
lets a receiver drop the duplicates. Our headers win over configured ones with
the same name, so a configuration cannot break the signature or the body type.

With a secret, the body is also signed per Standard Webhooks
(standardwebhooks.com), so a receiver can use that spec's libraries:
`webhook-id` (the notification id, as the idempotency key), `webhook-timestamp`
(unix seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256
of "{id}.{timestamp}.{body}">`. Its key is a `whsec_<base64>` secret's decoded
bytes, else the secret's UTF-8 bytes; `X-Alert-Signature` keeps its own key
(the secret as written), so receivers that check it need no change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import httpx

from app.notifiers import render
from app.notifiers.base import DeliveryError, DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, json_bytes, post_json
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import WebhookChannel, signing_key


def build_payload(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    """The alert as JSON; `title` and `body` too when the channel sets their templates."""
    payload = {
        "notification_id": str(notification.id),
        "reason": notification.reason,
        "level": notification.level,
        "channel": notification.channel,
        "created_at": notification.created_at.isoformat(),
        "alert": notification.alert,
        "alert_url": notification.alert_url,
        "console_url": notification.console_url,
        # A person's notification (an escalation step's): the address it went to.
        **({"recipient": notification.recipient} if notification.recipient else {}),
        # A digest (flood control): the notifications it folds, most severe first.
        **({"digest": render.digest_items(notification)} if render.is_digest(notification) else {}),
    }
    words = render.Wording(notification, templates)
    if templates.custom_title is not None:
        payload["title"] = words.title
    if templates.custom_body is not None:
        payload["body"] = words.message
    return payload


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookNotifier(HttpNotifier[WebhookChannel]):
    def __init__(
        self,
        name: str,
        config: WebhookChannel,
        client: httpx.AsyncClient,
        *,
        timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, config, client, timeout=timeout)
        self._clock = clock

    def __repr__(self) -> str:
        # Not the URL (tokens in the query) nor the headers (Authorization).
        return f"WebhookNotifier(name={self.name!r}, method={self._config.method!r})"

    async def send(self, notification: Notification) -> DeliveryResult:
        body = json_bytes(build_payload(notification, self._templates))
        headers = httpx.Headers(self._config.headers)
        headers["Idempotency-Key"] = str(notification.id)
        headers["X-Alert-Notification-Id"] = str(notification.id)
        if self._config.secret is not None:
            secret = self._config.secret.get_secret_value()
            headers["X-Alert-Signature"] = sign(secret.encode(), body)
            timestamp = int(self._clock())
            headers["webhook-id"] = str(notification.id)
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = standard_signature(
                signing_key(secret), str(notification.id), timestamp, body
            )
        if notification.recipient and not self._config.takes_person_url(notification.recipient):
            # Checked when the step paged; the configuration may have changed since.
            raise DeliveryError("the person's URL is not under person_url_prefixes", permanent=True)
        return await post_json(
            self._client,
            self._config.method,
            notification.recipient or self._config.url,  # a person's URL, else the channel's
            body,
            headers,
            request_timeout=self._timeout,
        )
