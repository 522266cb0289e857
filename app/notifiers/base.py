"""The one interface every channel adapter implements.

An adapter turns a Notification into one delivery attempt. Success returns a
DeliveryResult; any failure raises DeliveryError, which the delivery service
records on the outbox row and retries (or gives up on, when `permanent`).
Timeouts are applied by the caller, around `send`, per channel.
"""

from __future__ import annotations

import uuid
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
    reason: str  # new, repeated, window, severity, reopened, escalation, repeat, resolved, test, digest
    level: int  # escalation level the notification is sent at (1-4)
    created_at: datetime
    alert: dict[str, Any] | None  # AlertRead as JSON-ready dict; None for a channel test or a digest
    alert_url: str | None = None  # the alert in the JSON API, for programs
    console_url: str | None = None  # the alert's page in the web console, for people
    # A digest's notifications, most severe first, cut at DIGEST_ITEMS_MAX;
    # `folded_total` counts them all.
    folded: tuple[Folded, ...] = ()
    folded_total: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    detail: str = ""  # e.g. SMTP reply or HTTP status, for the outbox row
    extra: dict[str, Any] = field(default_factory=dict)


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
