"""Delivery of outbox rows: one attempt, and what the retry rules make of a
failure (the loop that claims and records them, with its bounds and
batches, is services/dispatcher.py; the writes are the store's,
db/store.py).

A row is claimed `sending` with a lease and counts the attempt; sending
happens outside any transaction; a result is recorded only if the row is
still ours. A row whose lease expires (the worker crashed or hung, or died
between the send and the write of its batch) is claimable again: delivery is
at least once, and webhooks carry the notification id as an idempotency key
so that receivers can drop the rare duplicate.

Backoff is computed here rather than with a retry library: the retries are
not a loop in this process but a `next_attempt_at` stored on the row, and the
formula is one line.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.db.store import ClaimedRow, Failed
from app.notifiers.base import DeliveryError, Notification, Notifier
from app.schemas import AlertRead
from app.services import flood
from app.settings import Settings


def backoff_seconds(attempts: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff after `attempts` failed tries; a peer's
    Retry-After is honoured as a floor, within the cap."""
    delay = random.uniform(0, min(cap, base * 2 ** (attempts - 1)))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    duration_ms: float = 0.0
    rate_limited: bool = False
    reference: dict[str, Any] | None = None  # for the store to keep (notifiers/base.py)


def failure(claimed: ClaimedRow, result: Attempt, *, settings: Settings, now: datetime) -> Failed:
    """A retry after the backoff, or given up after max_attempts (or at once
    when the failure is permanent); and the channel's pause when the provider
    asked for one (services/flood.py)."""
    give_up = result.permanent or claimed.attempts >= settings.max_attempts
    delay = backoff_seconds(
        claimed.attempts,
        base=settings.retry_base_seconds,
        cap=settings.retry_max_seconds,
        retry_after=result.retry_after,
    )
    return Failed(
        row=claimed,
        status="failed" if give_up else "pending",
        next_attempt_at=now if give_up else now + timedelta(seconds=delay),
        error=result.error or "unknown error",
        duration_ms=result.duration_ms,
        pause_until=flood.pause_until(
            retry_after=result.retry_after,
            rate_limited=result.rate_limited,
            backoff=delay,
            now=now,
            settings=settings,
        ),
    )


def channel_timeout(settings: Settings, channel: str) -> float:
    config = settings.channels.get(channel)
    own = getattr(config, "timeout_seconds", None)
    return float(own or settings.delivery_timeout_seconds)


async def attempt(
    claimed: ClaimedRow, notifier: Notifier | None, *, timeout: float, public_url: str
) -> Attempt:
    """One delivery attempt. Failures are results, never exceptions."""
    if notifier is None:
        return Attempt(False, f"channel {claimed.channel!r} is not configured", permanent=True)
    notification = Notification(
        id=claimed.id,
        channel=claimed.channel,
        reason=claimed.reason,
        level=claimed.level,
        created_at=claimed.created_at,
        alert=None
        if claimed.alert is None
        else AlertRead.model_validate(claimed.alert).model_dump(mode="json"),
        alert_url=f"{public_url.rstrip('/')}/alerts/{claimed.alert_id}" if claimed.alert_id else None,
        console_url=f"{public_url.rstrip('/')}/ui/alerts/{claimed.alert_id}" if claimed.alert_id else None,
        folded=flood.folded(claimed, public_url=public_url),
        folded_total=len(claimed.folded),
        reference=claimed.reference,
        recipient=claimed.recipient,
    )
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            result = await notifier.send(notification)
    except DeliveryError as exc:
        return Attempt(False, str(exc), exc.retry_after, exc.permanent, _ms_since(started), exc.rate_limited)
    except TimeoutError:
        return Attempt(False, f"timed out after {timeout:g}s", duration_ms=_ms_since(started))
    return Attempt(True, duration_ms=_ms_since(started), reference=result.reference)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
