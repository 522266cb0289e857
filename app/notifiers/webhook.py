"""Webhook channel: the alert as JSON, signed when a secret is configured.

The body is serialised once and those exact bytes are both signed and sent, so
a receiver can verify `X-Alert-Signature: sha256=<hex>` with
hmac.new(secret, raw_body, sha256) before parsing anything. Deliveries are
at-least-once: `Idempotency-Key` (the notification id, stable across retries)
lets a receiver drop the duplicates. Our headers win over configured ones with
the same name, so a configuration cannot break the signature or the body type.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx

from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.http import json_bytes, post_json
from app.settings import WebhookChannel


def build_payload(notification: Notification) -> dict[str, Any]:
    return {
        "notification_id": str(notification.id),
        "reason": notification.reason,
        "level": notification.level,
        "channel": notification.channel,
        "created_at": notification.created_at.isoformat(),
        "alert": notification.alert,
        "alert_url": notification.alert_url,
        "console_url": notification.console_url,
    }


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    def __init__(
        self,
        name: str,
        config: WebhookChannel,
        client: httpx.AsyncClient,
        *,
        timeout: float | None = None,
    ) -> None:
        self.name = name
        self._config = config
        self._client = client
        self._timeout = timeout if timeout is not None else config.timeout_seconds

    def __repr__(self) -> str:
        # Not the URL (tokens in the query) nor the headers (Authorization).
        return f"WebhookNotifier(name={self.name!r}, method={self._config.method!r})"

    async def send(self, notification: Notification) -> DeliveryResult:
        body = json_bytes(build_payload(notification))
        headers = httpx.Headers(self._config.headers)
        headers["Idempotency-Key"] = str(notification.id)
        headers["X-Alert-Notification-Id"] = str(notification.id)
        if self._config.secret is not None:
            secret = self._config.secret.get_secret_value().encode()
            headers["X-Alert-Signature"] = sign(secret, body)
        return await post_json(
            self._client,
            self._config.method,
            self._config.url,
            body,
            headers,
            request_timeout=self._timeout,
        )
