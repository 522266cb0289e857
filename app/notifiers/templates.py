"""Message templates: each channel's title and body, in Jinja2.

A channel may word its notifications itself (`title_template`,
`body_template`); the shipped wording is a pair of templates too
(DEFAULT_TITLE, DEFAULT_BODY), so one path renders every channel. The title
is the headline (an email's subject, a chat message's header), the body the
message text under it; the facts, colours and links each adapter adds around
them stay the adapter's.

Safety. The sources come from the configuration, the values from alerts. An
alert's text is only ever a value, never template source, so an alert cannot
inject template code. The immutable sandbox keeps a template itself away from
Python's internals (`''.__class__`) and from changing the alert it reads.
Templates produce plain text and each adapter escapes it for its medium as
before (Slack mrkdwn, Telegram HTML, Markdown links), so no value, and no
template either, can add markup there. The one exception is the HTML part
of an email: there the body is rendered a second time with autoescape on,
so every value is escaped and the markup written in the template is kept.

Failures. Undefined is an error (StrictUndefined): a misspelt field should
not send an empty title. A template that fails to render (an undefined
name, a sandbox violation, any exception) or a title that renders empty
falls back to the default for that notification, with a warning naming the
channel and why; the delivery still happens. A template that does not
compile never gets that far: the settings compile every template at start-up
and a syntax error stops it, naming the channel and the field. Compiled
templates are cached by source, so the notifiers reuse those very objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from typing import Any, Protocol

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.notifiers.base import Notification

logger = logging.getLogger("app.notifiers.templates")

TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


def format_time(value: Any, fmt: str = TIME_FORMAT) -> str:
    """The `time` filter: a timestamp (ISO 8601 text, as alerts carry them,
    or a datetime) in UTC, formatted by strftime's `fmt`; "" for none."""
    if value is None or value == "":
        return ""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(fmt)


def _environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)
    env.filters["time"] = format_time
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


class TemplateSourceError(ValueError):
    """A template does not compile; the message says why and where."""


@lru_cache(maxsize=1024)
def compile_template(source: str, *, as_html: bool = False) -> Template:
    """`source` compiled for plain text, or for HTML with autoescape on."""
    try:
        return (_HTML if as_html else _TEXT).from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateSourceError(f"{exc.message} (line {exc.lineno})") from None


# The shipped wording, word for word what the adapters sent before templates.
DEFAULT_TITLE = (
    "{% if notification.test %}Test notification from channel {{ notification.channel }}"
    '{% else %}[{{ "RESOLVED" if notification.reason == "resolved"'
    ' else (alert.severity or "unknown") | upper }}] {{ alert.alert_type or "alert" }}'
    "{% if alert.source %} on {{ alert.source }}{% endif %}"
    " (level {{ notification.level }}, {{ notification.reason }}){% endif %}"
)
DEFAULT_BODY = '{{ alert.message or "" }}'

# The alert's fields a template may always name (None when the alert has no value).
ALERT_FIELDS = (
    "id",
    "team",
    "fingerprint",
    "alert_type",
    "severity",
    "status",
    "message",
    "source",
    "labels",
    "details",
    "occurrences",
    "escalation_level",
    "first_seen_at",
    "last_seen_at",
    "triggered_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "resolution_notes",
    "resolution_minutes",
)


def _test_alert(notification: Notification) -> dict[str, Any]:
    """A channel test has no alert; templates see this one, so the test shows them at work."""
    when = notification.created_at.isoformat()
    return {
        "id": str(notification.id),
        "alert_type": "channel_test",
        "severity": "info",
        "status": "open",
        "message": (
            f"This is a test notification from channel {notification.channel} "
            f"(notification {notification.id})."
        ),
        "occurrences": 1,
        "escalation_level": notification.level,
        "first_seen_at": when,
        "last_seen_at": when,
        "triggered_at": when,
    }


def context(notification: Notification, *, as_html: bool = False) -> dict[str, Any]:
    """What a template sees (documented in docs/notifications.md)."""
    alert = notification.alert if notification.alert is not None else _test_alert(notification)
    return {
        "alert": {**dict.fromkeys(ALERT_FIELDS), "labels": {}, "details": {}, **alert},
        "notification": {
            "id": str(notification.id),
            "reason": notification.reason,
            "level": notification.level,
            "channel": notification.channel,
            "created_at": notification.created_at.isoformat(),
            "test": notification.alert is None,
        },
        "console_url": notification.console_url,
        "alert_url": notification.alert_url,
        "link": notification.console_url or notification.alert_url,
        "html": as_html,
    }


class Templated(Protocol):
    """A channel's configuration, as far as templates go (settings.py)."""

    @property
    def title_template(self) -> str | None: ...

    @property
    def body_template(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ChannelTemplates:
    """One channel's compiled templates; None where the channel keeps the default."""

    channel: str | None = None
    custom_title: Template | None = None
    custom_body: Template | None = None
    custom_body_html: Template | None = None

    @classmethod
    def of(cls, name: str, config: Templated, *, html_part: bool = False) -> ChannelTemplates:
        """The channel's templates; `html_part` also compiles the body for an HTML part."""
        title, body = config.title_template, config.body_template
        return cls(
            channel=name,
            custom_title=None if title is None else compile_template(title),
            custom_body=None if body is None else compile_template(body),
            custom_body_html=(
                compile_template(body, as_html=True) if body is not None and html_part else None
            ),
        )

    def title(self, notification: Notification) -> str:
        if self.custom_title is not None:
            text = self._render("title_template", self.custom_title, notification)
            if text is not None and text.strip():
                return text
            if text is not None:
                self._warn("title_template", notification, "it rendered an empty title")
        return _DEFAULT_TITLE.render(context(notification))

    def body(self, notification: Notification) -> str:
        if self.custom_body is not None:
            text = self._render("body_template", self.custom_body, notification)
            if text is not None:
                return text
        return _DEFAULT_BODY.render(context(notification))

    def body_html(self, notification: Notification) -> str | None:
        """The custom body rendered as HTML (values escaped); None without one."""
        if self.custom_body_html is None:
            return None
        text = self._render("body_template", self.custom_body_html, notification, as_html=True)
        return text if text is not None else escape(_DEFAULT_BODY.render(context(notification)))

    def _render(
        self, field: str, template: Template, notification: Notification, *, as_html: bool = False
    ) -> str | None:
        # Whatever a configured template raises, the notification still goes
        # out, in the default wording; the warning says what to fix.
        try:
            return template.render(context(notification, as_html=as_html))
        except Exception as exc:
            self._warn(
                field + (" (HTML part)" if as_html else ""), notification, f"{type(exc).__name__}: {exc}"
            )
            return None

    def _warn(self, field: str, notification: Notification, why: str) -> None:
        logger.warning(
            "channel %s: %s failed, the default was sent instead: %s",
            self.channel,
            field,
            why,
            extra={
                "channel": self.channel,
                "field": field,
                "notification_id": str(notification.id),
                "error": why,
            },
        )


_DEFAULT_TITLE = compile_template(DEFAULT_TITLE)
_DEFAULT_BODY = compile_template(DEFAULT_BODY)
DEFAULTS = ChannelTemplates()
