"""Slack as an app: one message per alert, kept up to date.

The first notification of an alert posts the message (chat.postMessage) and
returns its reference, `{"channel": <id>, "ts": <ts>}`, which the delivery
path keeps (db/channel_messages.py) and hands to the alert's next
notification on this channel. Every later one rewrites that message
(chat.update) to show the alert as it is now: status, who acknowledged,
level, and the buttons its status still allows. An update notifies nobody,
so a reason that exists to tell people (an escalation, a repeat, a raised
severity, a reopen...) also posts a reply in the message's thread; a
reopen's reply is broadcast to the channel too, as the message may be far
up by then. Acknowledged and resolved only update: people did that, and the
message shows who.

A message that can no longer be updated (deleted, too old to edit, posted
by another app) is replaced by a new one, whose reference replaces the old.
A channel test and a digest (flood control: many alerts, none to follow)
post a plain message and keep nothing; so does a notification to a person
(an escalation step's), as a direct message to their member id: it neither
updates nor threads into the channel's message. Titles, messages and replies are the
channel templates' wording (render.Wording), as in webhook mode.

Slack's Web API answers most errors with HTTP 200 and `{"ok": false,
"error": ...}`. Rate limits (429, or `ratelimited`) pause the channel (flood
control) for the Retry-After Slack states; they and Slack's own trouble
are retried; a wrong token, a missing scope or
channel, or a message Slack refuses is permanent; an error Slack adds later
is retried, within max_attempts. The bot token travels in the
Authorization header only and is scrubbed from every error.
"""

from __future__ import annotations

from typing import Any

import httpx

from app.notifiers import render
from app.notifiers.base import DeliveryError, DeliveryResult, Notification
from app.notifiers.http import HttpNotifier, exchange, json_bytes, redact, retry_after_seconds
from app.notifiers.slack import build_payload, mrkdwn_escape
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import SlackChannel

ACKNOWLEDGE = "alert_acknowledge"
RESOLVE = "alert_resolve"
# The action of each button, and the status it moves the alert to.
ACTIONS = {ACKNOWLEDGE: "acknowledged", RESOLVE: "resolved"}

# Reasons that only change the message: nobody needs a ping for them.
_UPDATE_ONLY = frozenset({"acknowledged", "resolved"})
_REPLY_MAX = 3000

# Errors that retrying cannot mend: the token, the app's rights, the
# channel, or a message Slack refuses as built.
PERMANENT = frozenset({
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
    "no_permission", "missing_scope", "not_allowed_token_type", "access_denied",
    "team_access_not_granted", "ekm_access_denied", "org_login_required", "two_factor_setup_required",
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "invalid_arguments", "invalid_arg_name", "invalid_array_arg", "invalid_charset",
    "invalid_form_data", "invalid_post_type", "missing_post_type", "invalid_json", "json_not_object",
    "invalid_blocks", "invalid_blocks_format", "invalid_attachments", "too_many_attachments",
    "msg_too_long", "no_text", "method_deprecated", "deprecated_endpoint", "message_limit_exceeded",
})  # fmt: skip
# A message that cannot be updated any more: post a new one.
_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


# Slack's answer when a method's rate limit is hit (also sent as HTTP 429).
RATE_LIMITED = "ratelimited"


class SlackError(DeliveryError):
    def __init__(self, method: str, code: str, *, retry_after: float | None = None) -> None:
        super().__init__(
            f"{method} failed: {code}",
            retry_after=retry_after,
            permanent=code in PERMANENT,
            rate_limited=code == RATE_LIMITED,
        )
        self.code = code


def _active(notification: Notification) -> bool:
    alert = notification.alert or {}
    return alert.get("status") in ("open", "acknowledged", "in_progress", "reopened")


def buttons(notification: Notification) -> dict[str, Any] | None:
    """The actions block of an active alert: Acknowledge while it is
    unacknowledged, Resolve while it is active; the value is the alert id."""
    alert = notification.alert or {}
    if not _active(notification) or not alert.get("id"):
        return None
    elements: list[dict[str, Any]] = []
    if alert.get("status") in ("open", "reopened"):
        elements.append(_button(ACKNOWLEDGE, "Acknowledge", str(alert["id"]), style="primary"))
    elements.append(_button(RESOLVE, "Resolve", str(alert["id"])))
    return {"type": "actions", "block_id": "alert_actions", "elements": elements}


def _button(action_id: str, text: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def build_message(
    notification: Notification, *, with_buttons: bool, templates: ChannelTemplates = DEFAULTS
) -> dict[str, Any]:
    """The message as the alert is now: the webhook's layout, plus the
    buttons its status allows (when the channel can verify their clicks)."""
    payload = build_payload(notification, templates)
    actions = buttons(notification) if with_buttons else None
    if actions is not None:
        payload["attachments"][0]["blocks"].append(actions)
    return payload


def build_reply(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> str:
    words = render.Wording(notification, templates)
    text = f"{words.title}: {words.message}" if words.message else words.title
    return render.cut(mrkdwn_escape(text), _REPLY_MAX)


class SlackAppNotifier(HttpNotifier[SlackChannel]):
    def __repr__(self) -> str:
        return f"SlackAppNotifier(name={self.name!r}, channel={self._config.channel!r})"

    async def send(self, notification: Notification) -> DeliveryResult:
        message = build_message(
            notification, with_buttons=self._config.signing_secret is not None, templates=self._templates
        )
        reference = notification.reference
        if notification.alert is None or notification.recipient:
            # A channel test, a digest or a person's direct message: nothing to update later.
            where = notification.recipient or self._config.channel
            await self._call("chat.postMessage", {"channel": where, **message})
            return DeliveryResult(detail="chat.postMessage ok")
        if not _valid(reference):
            return await self._post(message)
        assert reference is not None
        try:
            await self._call(
                "chat.update", {"channel": reference["channel"], "ts": reference["ts"], **message}
            )
        except SlackError as exc:
            if exc.code not in _GONE:
                raise
            return await self._post(message)  # the new message notifies by itself
        if notification.reason in _UPDATE_ONLY:
            return DeliveryResult(detail="chat.update ok")
        reply: dict[str, Any] = {
            "channel": reference["channel"],
            "thread_ts": reference["ts"],
            "text": build_reply(notification, self._templates),
        }
        if notification.reason == "reopened":
            reply["reply_broadcast"] = True
        await self._call("chat.postMessage", reply)
        return DeliveryResult(detail="chat.update ok, replied in thread")

    async def _post(self, message: dict[str, Any]) -> DeliveryResult:
        answer = await self._call("chat.postMessage", {"channel": self._config.channel, **message})
        channel, ts = answer.get("channel"), answer.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            raise DeliveryError("chat.postMessage answered ok without channel and ts", permanent=True)
        return DeliveryResult(detail="chat.postMessage ok", reference={"channel": channel, "ts": ts})

    async def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One Web API call; its answer when `ok`, else SlackError."""
        assert self._config.bot_token is not None  # app mode (registry.py)
        token = self._config.bot_token.get_secret_value()
        url = f"{self._config.api_url.rstrip('/')}/{method}"
        try:
            response = await exchange(
                self._client,
                "POST",
                url,
                json_bytes(payload),
                "application/json; charset=utf-8",
                {"Authorization": f"Bearer {token}"},
                request_timeout=self._timeout,
                secrets=[token],
            )
        except DeliveryError as exc:
            raise DeliveryError(
                f"{method}: {exc}",
                retry_after=exc.retry_after,
                permanent=exc.permanent,
                rate_limited=exc.rate_limited,
            ) from None
        return _answer(method, response, token)


def _valid(reference: dict[str, Any] | None) -> bool:
    return (
        reference is not None
        and isinstance(reference.get("channel"), str)
        and isinstance(reference.get("ts"), str)
    )


def _answer(method: str, response: httpx.Response, token: str) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        raise DeliveryError(f"{method} answered HTTP {response.status_code} without JSON") from None
    if not isinstance(answer, dict):
        raise DeliveryError(f"{method} answered HTTP {response.status_code} with no JSON object")
    if answer.get("ok") is True:
        return answer
    code = redact(str(answer.get("error") or "unknown_error"), [token])[:100]
    raise SlackError(method, code, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
