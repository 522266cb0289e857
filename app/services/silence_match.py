"""Which active silences match an alert: pure matching plus one lookup.

Matchers follow Alertmanager's rules: every matcher must match, a regular
expression must match the whole value, and a label the alert lacks reads as
the empty string (so `labels.env = ""` matches alerts without `env`).

Locking. The lookup takes FOR SHARE SKIP LOCKED on PostgreSQL. A silence being
released holds FOR UPDATE; a notification queued at that moment skips it and
goes out normally (the silence is ending anyway), and the release cannot start
while a transaction that may still write rows held by the silence is open.
So every held row is committed before its silence is released, and none is
left behind. SQLite serializes writers instead.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Alert, Silence

_CACHE_KEY = "active_silences"


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def check_regex(pattern: str) -> str | None:
    """None when the pattern compiles, else the reason it does not."""
    try:
        _compiled(pattern)
    except re.error as exc:
        return str(exc)
    return None


def _value(alert: Alert, name: str) -> str:
    if name.startswith("labels."):
        return str((alert.labels or {}).get(name.removeprefix("labels."), ""))
    return str(getattr(alert, name, "") or "")


def matcher_matches(matcher: dict[str, Any], alert: Alert) -> bool:
    actual = _value(alert, str(matcher["name"]))
    expected = str(matcher["value"])
    if matcher.get("is_regex"):
        return _compiled(expected).fullmatch(actual) is not None
    return actual == expected


def matches(silence: Silence, alert: Alert) -> bool:
    return all(matcher_matches(m, alert) for m in silence.matchers)


def matching_ids(silences: Iterable[Silence], alert: Alert) -> list[uuid.UUID]:
    return [silence.id for silence in silences if matches(silence, alert)]


async def active(session: AsyncSession, *, now: datetime, lock: bool = True) -> Sequence[Silence]:
    """Silences in force at `now`, oldest first. With `lock`, cached for the
    rest of the transaction: an escalation tick asks once, not per alert."""
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE_KEY)
    if lock and cached is not None and cached[0] is transaction and cached[1] == now:
        rows: Sequence[Silence] = cached[2]
        return rows
    query = (
        select(Silence)
        .where(Silence.starts_at <= now, Silence.ends_at > now, Silence.released_at.is_(None))
        .order_by(Silence.created_at, Silence.id)
    )
    if lock:
        query = query.with_for_update(read=True, skip_locked=True)
    rows = list(await session.scalars(query))
    if lock:
        session.info[_CACHE_KEY] = (transaction, now, rows)
    return rows


def forget(session: AsyncSession) -> None:
    """Drop the cached lookup after this session changed a silence."""
    session.info.pop(_CACHE_KEY, None)


async def held_by(session: AsyncSession, alert: Alert, now: datetime) -> list[uuid.UUID]:
    """The silences in force that match the alert, oldest first; the first
    holds its notifications (and it is the stores' `hold`)."""
    return matching_ids(await active(session, now=now), alert)
