"""Text shared by the channel adapters: one title, one list of facts, two bodies.

Every adapter words an alert the same way, so an on-call engineer who sees the
Slack message and the email reads the same title. The title and the message
come from the channel's templates (templates.py; the defaults unless the
channel sets its own), read through one Wording per notification, so each is
rendered once however often an adapter uses it. The alert arrives as the
API's JSON dict; fields are read with .get because a channel test carries no
alert at all and an older outbox row may miss a newer field.

A digest (flood control, services/flood.py) carries no single alert either,
but the notifications folded into it: its title counts them under the most
severe one's tag, its message lists them one a line, most severe first, each
with its title, message and link, at most DIGEST_LINES of them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from app.notifiers.base import Folded, Notification
from app.notifiers.templates import DEFAULTS, ChannelTemplates

# Slack attachment colours, lowest to highest severity.
SEVERITY_COLOURS: dict[str, str] = {
    "info": "#439FE0",
    "low": "#2EB886",
    "medium": "#DAA038",
    "high": "#E8702A",
    "critical": "#D00000",
}
RESOLVED_COLOUR = "#2EB886"
TEST_COLOUR = "#808080"

# Headers and chat titles are one line; a long one is cut rather than refused.
_TITLE_MAX = 200


# A digest lists this many notifications; the rest are counted.
DIGEST_LINES = 20
_DIGEST_LINE_MAX = 300

# Details beyond this are cut: an email or a Slack message is no place for 64 KiB.
MAX_DETAILS_CHARS = 2_000


def cut(text: str, limit: int, ellipsis: str = "\u2026") -> str:
    """`text` in at most `limit` characters, marked where it was cut."""
    if len(text) <= limit:
        return text
    keep = limit - len(ellipsis)
    return text[: max(0, limit)] if keep <= 0 else text[:keep] + ellipsis


def unlink(text: str) -> str:
    """Markdown text that cannot form a `[text](url)` link, and reads the same:
    a zero-width space goes between "]" and "(". Backslash escapes would do it
    too, but some chat clients show the backslashes."""
    return text.replace("](", "]\u200b(")


def _one_line(text: str, limit: int = _TITLE_MAX) -> str:
    # User text may carry newlines, which an email header must never contain.
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def _alert(notification: Notification) -> dict[str, Any]:
    return notification.alert or {}


def is_digest(notification: Notification) -> bool:
    return notification.reason == "digest"


def is_test(notification: Notification) -> bool:
    return notification.alert is None and not is_digest(notification)


def is_resolved(notification: Notification) -> bool:
    return notification.reason == "resolved"


def severity(notification: Notification) -> str:
    if is_digest(notification):  # the most severe one's, listed first
        first = notification.folded[0].alert if notification.folded else None
        return str((first or {}).get("severity") or "unknown")
    return str(_alert(notification).get("severity") or "unknown")


class Wording:
    """A channel's title and message for one notification, rendered from the
    channel's templates when first read, then kept (an email reads its title
    three times). The title is one line of at most 200 characters whatever
    the template made of it: it goes into email headers and chat headers."""

    def __init__(self, notification: Notification, templates: ChannelTemplates = DEFAULTS) -> None:
        self.notification = notification
        self.templates = templates

    @cached_property
    def title(self) -> str:
        """E.g. "[CRITICAL] disk_full on db-1 (level 3, escalation)"."""
        if is_digest(self.notification):  # no alert for a template to word
            return _digest_title(self.notification)
        return _one_line(self.templates.title(self.notification))

    @cached_property
    def message(self) -> str:
        if is_digest(self.notification):
            return _digest_message(self.notification)
        return self.templates.body(self.notification)

    @cached_property
    def message_html(self) -> str:
        """The message as HTML: a custom body rendered with autoescape, else the text escaped."""
        custom = None if is_digest(self.notification) else self.templates.body_html(self.notification)
        return custom if custom is not None else html.escape(self.message)


def title(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> str:
    return Wording(notification, templates).title


def message(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> str:
    return Wording(notification, templates).message


def _digest_title(notification: Notification) -> str:
    tag = severity(notification).upper()
    return _one_line(
        f"[{tag}] and {notification.folded_total} more: digest of channel {notification.channel}"
    )


def _folded_line(item: Folded) -> str:
    """E.g. "[HIGH] disk_full on db-1: /var is 91% full (new) https://..."."""
    alert = item.alert or {}
    tag = "RESOLVED" if item.reason == "resolved" else str(alert.get("severity") or "unknown").upper()
    text = f"[{tag}] {alert.get('alert_type') or 'alert'}"
    if alert.get("source"):
        text += f" on {alert['source']}"
    if alert.get("message"):
        text += f": {alert['message']}"
    text = cut(" ".join(text.split()), _DIGEST_LINE_MAX) + f" ({item.reason})"
    url = item.console_url or item.alert_url
    return f"- {text} {url}" if url else f"- {text}"


def _digest_message(notification: Notification) -> str:
    total = notification.folded_total
    lines = [f"{total} more notifications past this channel's limit per minute, most severe first:"]
    lines += [_folded_line(item) for item in notification.folded[:DIGEST_LINES]]
    if (rest := total - min(len(notification.folded), DIGEST_LINES)) > 0:
        lines.append(f"\u2026 and {rest} more not listed here")
    return "\n".join(lines)


def colour(notification: Notification) -> str:
    if is_test(notification):
        return TEST_COLOUR
    if is_resolved(notification):
        return RESOLVED_COLOUR
    return SEVERITY_COLOURS.get(severity(notification), TEST_COLOUR)


def facts(notification: Notification) -> list[tuple[str, str]]:
    """(label, value) pairs shown under the message, in reading order."""
    if is_test(notification):
        return [("Channel", notification.channel)]
    if is_digest(notification):
        return [("Channel", notification.channel), ("Notifications", str(notification.folded_total))]
    alert = _alert(notification)
    labels = alert.get("labels") or {}
    rows = [
        ("Severity", severity(notification)),
        ("Type", alert.get("alert_type")),
        ("Source", alert.get("source")),
        ("Level", notification.level),
        ("Status", alert.get("status")),
        ("Occurrences", alert.get("occurrences")),
        ("Labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))),
        ("First seen", alert.get("first_seen_at")),
        ("Acknowledged by", alert.get("acknowledged_by")),
        ("Resolved by", alert.get("resolved_by")),
        ("Resolution notes", alert.get("resolution_notes")),
        ("Time to resolve", _minutes(alert.get("resolution_minutes"))),
        ("Details", _details(alert.get("details"))),
        ("Alert ID", alert.get("id")),
    ]
    return [
        (label, _one_line(str(value), MAX_DETAILS_CHARS)) for label, value in rows if value not in (None, "")
    ]


def _minutes(value: Any) -> str | None:
    return None if value is None else f"{float(value):.1f} min"


def _details(details: Any) -> str | None:
    """The alert's free-form details, as compact JSON, cut at MAX_DETAILS_CHARS."""
    if not details:
        return None
    text = json.dumps(details, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_DETAILS_CHARS else text[: MAX_DETAILS_CHARS - 1] + "…"


def link(notification: Notification) -> str | None:
    """Where a person opens the alert: its page in the web console. The API's
    JSON is for programs (a webhook carries both)."""
    return notification.console_url or notification.alert_url


def digest_items(notification: Notification) -> list[dict[str, Any]]:
    """A digest's notifications as JSON, for programs (a webhook)."""
    return [
        {
            "notification_id": str(item.id),
            "reason": item.reason,
            "level": item.level,
            "created_at": item.created_at.isoformat(),
            "alert": item.alert,
            "alert_url": item.alert_url,
            "console_url": item.console_url,
        }
        for item in notification.folded
    ]


def text_body(
    notification: Notification, wording: Wording | None = None, actions: Sequence[tuple[str, str]] = ()
) -> str:
    """`actions`: (label, url) links that act on the alert (email's acknowledge and resolve)."""
    words = wording or Wording(notification)
    lines = [words.title, "", words.message, ""]
    width = max(len(label) for label, _ in facts(notification)) + 2
    lines += [f"{label + ':':<{width}}{value}" for label, value in facts(notification)]
    if url := link(notification):
        lines += ["", f"Open the alert: {url}"]
    if actions:
        lines += ["", *(f"{label}: {url}" for label, url in actions)]
    return "\n".join(lines) + "\n"


def html_body(
    notification: Notification, wording: Wording | None = None, actions: Sequence[tuple[str, str]] = ()
) -> str:
    words = wording or Wording(notification)
    esc = html.escape
    rows = "".join(
        f"<tr><th align='left'>{esc(label)}</th><td>{esc(value)}</td></tr>"
        for label, value in facts(notification)
    )
    parts = [
        "<html><body>",
        f"<h2 style='color:{colour(notification)}'>{esc(words.title)}</h2>",
        f"<p style='white-space:pre-wrap'>{words.message_html}</p>",
        f"<table>{rows}</table>",
    ]
    if url := link(notification):
        parts.append(f'<p><a href="{esc(url, quote=True)}">Open the alert</a></p>')
    if actions:
        buttons = " | ".join(f'<a href="{esc(url, quote=True)}">{esc(label)}</a>' for label, url in actions)
        parts.append(f"<p>{buttons}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
