"""Flood control and provider pauses: the rules (the database side, shared
by every replica, is db/flood.py).

The minute is the clock minute, in UTC: from hh:mm:00 to the next hh:mm:00,
not a sliding 60 s. A channel with `max_per_minute = N` starts at most N
individual notifications in a minute; the rest of that minute's due ones
are folded into one digest, due when the minute ends ("and 7 more: ...").
A clock minute makes "when the minute ends" one instant for every replica,
and the digest one row per channel and minute. The price: up to 2N may go
out within a minute that straddles two clock minutes, and a digest follows.

What takes a share: a notification's first attempt. Its retries do not (the
provider's own answers pace those, below), nor a channel test, nor a digest
(one per channel and minute, on top of the N). A folded row is never
dropped: it is `folded`, pointing at its digest, which is delivered,
retried and reported like any other row.

A provider that says "wait" (429 with Retry-After, Telegram's
`parameters.retry_after`, Discord's `retry_after`, parsed in
notifiers/http.py) pauses the whole channel, in the database: until then no
replica claims a row of it, and rows skipped so are not attempts. A 429
that names no time pauses the channel for the row's own backoff. Pauses, like
backoffs, are capped at `retry_max_seconds`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.db.store import ClaimedRow, Quotas
from app.notifiers.base import Folded
from app.schemas import AlertRead
from app.settings import SEVERITIES, Settings

WINDOW = timedelta(minutes=1)
# A digest carries at most this many notifications in full (most severe
# first); the count covers them all.
DIGEST_ITEMS_MAX = 100


def window(now: datetime) -> tuple[datetime, datetime]:
    """The clock minute `now` is in: its start, and its end (when its digests are due)."""
    start = now.replace(second=0, microsecond=0)
    return start, start + WINDOW


def quotas(settings: Settings, now: datetime) -> Quotas | None:
    """The limited channels and their window at `now`; None when no channel has a limit."""
    limits = {
        name: config.max_per_minute
        for name, config in settings.channels.items()
        if config.max_per_minute is not None
    }
    if not limits:
        return None
    start, end = window(now)
    return Quotas(per_window=limits, window_start=start, window_end=end)


def pause_until(
    *, retry_after: float | None, rate_limited: bool, backoff: float, now: datetime, settings: Settings
) -> datetime | None:
    """Until when the channel pauses after a failed attempt: what the provider
    asked for, or the row's backoff when it refused for its rate limit without
    a time; None when it asked for nothing."""
    if retry_after is None and not rate_limited:
        return None
    wait = retry_after if retry_after is not None else backoff
    return now + timedelta(seconds=min(wait, settings.retry_max_seconds))


def _rank(item: Folded) -> int:
    severity = (item.alert or {}).get("severity")
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def folded(claimed: ClaimedRow, *, public_url: str) -> tuple[Folded, ...]:
    """A digest's notifications, most severe first (oldest first within a
    severity), at most DIGEST_ITEMS_MAX."""
    base = public_url.rstrip("/")
    items = [
        Folded(
            id=row.id,
            reason=row.reason,
            level=row.level,
            created_at=row.created_at,
            alert=None if row.alert is None else AlertRead.model_validate(row.alert).model_dump(mode="json"),
            alert_url=f"{base}/alerts/{row.alert_id}" if row.alert_id else None,
            console_url=f"{base}/ui/alerts/{row.alert_id}" if row.alert_id else None,
        )
        for row in claimed.folded
    ]
    items.sort(key=lambda item: (-_rank(item), item.created_at))
    return tuple(items[:DIGEST_ITEMS_MAX])
