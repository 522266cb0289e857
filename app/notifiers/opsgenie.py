"""Opsgenie channel: the Alert API v2, keyed by the alert id as `alias`.

A notification creates the Opsgenie alert (`POST /v2/alerts`); while one
with that alias is open, Opsgenie folds a repeat into it (its count goes up),
so escalations and repeats do not open new alerts. An acknowledged notice
acknowledges it (`POST /v2/alerts/{alias}/acknowledge?identifierType=alias`,
as the person who acknowledged), a resolved notice closes it
(`.../close?identifierType=alias`). A channel test creates a P5 alert
aliased by the notification id.

Opsgenie answers 202 and processes the request later; 422 (a refused
field) and 401/403 (a wrong key) are permanent, 429 and 5xx retried
(http.py). The key goes in `Authorization: GenieKey <key>` and is scrubbed
from error messages. `api_url` is https://api.eu.opsgenie.com for EU
accounts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from app.notifiers import render
from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, json_bytes, post_json
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import OpsgenieChannel

PRIORITIES = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4", "info": "P5"}
SOURCE = "alert-service"
# Opsgenie's field limits; a longer value is refused, so it is cut instead.
_MESSAGE_MAX = 130
_DESCRIPTION_MAX = 15_000
_ENTITY_MAX = 512
_DETAIL_MAX = 1_000  # per value; the whole map may hold 8,000 characters
_USER_MAX = 100


def alias(notification: Notification) -> str:
    alert = notification.alert or {}
    return str(alert.get("id") or notification.id)


def _details(notification: Notification) -> dict[str, str]:
    alert = notification.alert or {}
    details = {
        "severity": render.severity(notification),
        "alert_type": alert.get("alert_type"),
        "reason": notification.reason,
        "level": str(notification.level),
        "console_url": render.link(notification),
        **{f"label.{k}": v for k, v in sorted((alert.get("labels") or {}).items())},
    }
    return {k: render.cut(str(v), _DETAIL_MAX) for k, v in details.items() if v not in (None, "")}


def build_create(
    notification: Notification, config: OpsgenieChannel, templates: ChannelTemplates = DEFAULTS
) -> dict[str, Any]:
    alert = notification.alert or {}
    words = render.Wording(notification, templates)
    body: dict[str, Any] = {
        "message": render.cut(words.title, _MESSAGE_MAX),
        "alias": alias(notification),
        "description": render.cut(render.text_body(notification, words), _DESCRIPTION_MAX),
        "priority": PRIORITIES.get(render.severity(notification), "P5"),
        "source": SOURCE,
        "details": _details(notification),
    }
    if alert.get("source"):
        body["entity"] = render.cut(str(alert["source"]), _ENTITY_MAX)
    if config.responders:
        body["responders"] = [r.model_dump(exclude_none=True) for r in config.responders]
    if config.tags:
        body["tags"] = list(config.tags)
    return body


def build_close(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    return {"source": SOURCE, "note": render.cut(render.title(notification, templates), _MESSAGE_MAX)}


def build_acknowledge(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> dict[str, Any]:
    body = build_close(notification, templates)
    if by := (notification.alert or {}).get("acknowledged_by"):
        body["user"] = render.cut(str(by), _USER_MAX)
    return body


class OpsgenieNotifier(HttpNotifier[OpsgenieChannel]):
    async def send(self, notification: Notification) -> DeliveryResult:
        base = self._config.api_url.rstrip("/")
        alert_url = f"{base}/v2/alerts/{quote(alias(notification), safe='')}"
        if render.is_resolved(notification):
            url = f"{alert_url}/close?identifierType=alias"
            body = json_bytes(build_close(notification, self._templates))
        elif notification.reason == "acknowledged":
            url = f"{alert_url}/acknowledge?identifierType=alias"
            body = json_bytes(build_acknowledge(notification, self._templates))
        else:
            url = f"{base}/v2/alerts"
            body = json_bytes(build_create(notification, self._config, self._templates))
        key = self._config.api_key.get_secret_value()
        return await post_json(
            self._client,
            "POST",
            url,
            body,
            {"Authorization": f"GenieKey {key}"},
            request_timeout=self._timeout,
            secrets=[key],
        )
