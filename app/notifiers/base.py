"""The one interface every channel adapter implements.

An adapter turns a Notification into one delivery attempt. Success returns a
DeliveryResult; any failure raises DeliveryError, which the delivery service
records on the outbox row and retries (or gives up on, when `permanent`).
An adapter that edits what it posted (a Slack app's message) returns a
`reference` with its result and finds it on the alert's next notification.
A notification to a person (an escalation step that named them) carries
their address as `recipient`: the adapters that can reach a person (email,
SMS, a Slack app, Telegram, webhook) send there instead of to the channel's
own recipients, each at one place (`recipients`, or `recipient or ...`).
Timeouts are applied by the caller, around `send`, per channel.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Folded:
    """One notification a digest carries (flood control, services/flood.py)."""

    id: uuid.UUID
    reason: str
    level: int
    created_at: datetime
    alert: dict[str, Any] | None  # AlertRead as JSON-ready dict
    alert_url: str | None = None
    console_url: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: uuid.UUID
    channel: str
    # new, repeated, window, severity, reopened, escalation, repeat, acknowledged, resolved, test, digest
    reason: str
    level: int  # escalation level the notification is sent at (1-4)
    created_at: datetime
    alert: dict[str, Any] | None  # AlertRead as JSON-ready dict; None for a channel test or a digest
    alert_url: str | None = None  # the alert in the JSON API, for programs
    console_url: str | None = None  # the alert's page in the web console, for people
    # A digest's notifications, most severe first, cut at DIGEST_ITEMS_MAX;
    # `folded_total` counts them all.
    folded: tuple[Folded, ...] = ()
    folded_total: int = 0
    # What an earlier delivery of this alert to this channel asked to keep
    # (DeliveryResult.reference): a Slack app's message, to update it.
    reference: dict[str, Any] | None = None
    # A person's address (an email address, a number, a Slack member id, a
    # Telegram chat id, a URL), replacing the channel's own recipients.
    recipient: str | None = None


def recipients(notification: Notification, configured: Sequence[str]) -> list[str]:
    """The person's address when the notification is to a person, else the
    channel's own recipients."""
    return [notification.recipient] if notification.recipient else list(configured)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    detail: str = ""  # e.g. SMTP reply or HTTP status, for the outbox row
    extra: dict[str, Any] = field(default_factory=dict)
    # The provider's reference to a message this delivery posted, kept per
    # alert and channel (db/channel_messages.py) and handed to the alert's
    # next notification on this channel; None keeps the one kept before.
    reference: dict[str, Any] | None = None


class DeliveryError(Exception):
    """One delivery attempt failed.

    retry_after: seconds the peer asked us to wait (HTTP Retry-After, or the
        provider's own field in its answer), if any.
    permanent: retrying cannot help (e.g. 4xx other than 408/429).
    rate_limited: the provider refused for its rate limit (429 or its own
        code), said how long to wait or not; the whole channel pauses.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.rate_limited = rate_limited


class Notifier(Protocol):
    name: str

    async def send(self, notification: Notification) -> DeliveryResult: ...
