"""PagerDuty channel: one Events API v2 event per notification.

The alert id is the `dedup_key`, so every notification about one alert lands
on one PagerDuty incident, which follows the alert's state: an acknowledged
notice acknowledges it, a resolved notice resolves it, anything else
triggers (or adds to) it. A channel test has no alert: it triggers an
`info` event keyed by the notification id, which is closed by hand.

PagerDuty answers 202 {"status": "success"}; 400 (an invalid event) is
permanent, 429 and 5xx are retried, as for every HTTP channel (http.py). The
routing key travels in the body only and is scrubbed from error messages.
"""

from __future__ import annotations

from typing import Any

from app.notifiers import render
from app.notifiers.base import DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, json_bytes, post_json
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import PagerDutyChannel

SEVERITIES = {"critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info"}
_SUMMARY_MAX = 1024
_SOURCE_MAX = 255
CLIENT = "alert-service"


def event_action(notification: Notification) -> str:
    if render.is_resolved(notification):
        return "resolve"
    return "acknowledge" if notification.reason == "acknowledged" else "trigger"


def dedup_key(notification: Notification) -> str:
    alert = notification.alert or {}
    return str(alert.get("id") or notification.id)


def build_event(
    notification: Notification, routing_key: str, templates: ChannelTemplates = DEFAULTS
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": event_action(notification),
        "dedup_key": dedup_key(notification),
    }
    if event["event_action"] != "trigger":
        return event  # acknowledge and resolve need nothing more; PagerDuty ignores a payload there
    alert = notification.alert or {}
    words = render.Wording(notification, templates)
    message = words.message
    summary = f"{words.title}: {message}" if message else words.title
    payload: dict[str, Any] = {
        "summary": render.cut(" ".join(summary.split()), _SUMMARY_MAX),
        "source": render.cut(str(alert.get("source") or CLIENT), _SOURCE_MAX),
        "severity": SEVERITIES.get(render.severity(notification), "info"),
        "custom_details": {
            "message": message,
            "labels": alert.get("labels") or {},
            "details": alert.get("details") or {},
            "reason": notification.reason,
            "level": notification.level,
            "console_url": render.link(notification),
        },
    }
    if alert.get("alert_type"):
        payload["class"] = alert["alert_type"]
    if alert.get("first_seen_at"):
        payload["timestamp"] = alert["first_seen_at"]
    event["payload"] = payload
    event["client"] = CLIENT
    if url := render.link(notification):
        event["client_url"] = url
        event["links"] = [{"href": url, "text": "Open the alert"}]
    return event


class PagerDutyNotifier(HttpNotifier[PagerDutyChannel]):
    async def send(self, notification: Notification) -> DeliveryResult:
        key = self._config.routing_key.get_secret_value()
        body = json_bytes(build_event(notification, key, self._templates))
        return await post_json(
            self._client, "POST", self._config.url, body, {}, request_timeout=self._timeout, secrets=[key]
        )
