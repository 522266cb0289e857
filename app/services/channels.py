"""Per-channel delivery figures: the one place they are computed.

GET /channels shows them for the configured channels over all time; GET /stats
for a period (notifications by creation time), optionally narrowed to the
alerts of one type or source, for every channel that appears.

The counts and the mean latency of whole days (all time, for /channels) come
summed per day and channel (db/notification_sums.py: triggers keep them as
notifications are written, change status and are deleted); the partial first
and last days of a period, and any narrowing to the alerts of a type, source
or team, from two grouped queries over the rows, each served by a partial
index: the sent rows (count and latency, from ix_notifications_sent_latency)
and the unsent rest, few by nature: failed, waiting, held, folded
(ix_notifications_unsent).

Flood control (services/flood.py) counts so: a digest is one message, in
`sent`, `failed` or `pending` like any other; each notification folded into
it is in `folded` (delivered in a digest, whatever became of the digest,
which has its own row), and in none of the others. `success_rate` is over
the messages sent to the provider (digests included), not over `folded`. The p95 latency is
read at its rank from the latency index (db/aggregates.py), only when asked.
The console's channel page adds each channel's outstanding error
(last_errors) and the outcome of a test it queued (channel_test).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, func, join, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db import flood, notification_sums
from app.db.aggregates import percentiles
from app.errors import NotFound
from app.models import Alert, OutboxRow
from app.settings import Settings, SlackChannel


@dataclass(frozen=True, slots=True)
class Delivery:
    """One channel's figures over the notifications in scope."""

    sent: int = 0
    failed: int = 0
    pending: int = 0  # pending or being sent
    silenced: int = 0
    folded: int = 0  # delivered in a digest (flood control)
    success_rate: float | None = None  # sent / (sent + failed); None before any result
    mean_latency_ms: float | None = None
    p95_latency_ms: float | None = None  # only computed when asked for


NO_DELIVERY = Delivery()


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    name: str
    type: str
    mode: str | None  # slack: webhook or app
    sent: int
    failed: int
    pending: int
    silenced: int
    folded: int
    folded_last_hour: int
    max_per_minute: int | None
    paused_until: datetime | None
    success_rate: float | None
    mean_latency_ms: float | None


# "Recently folded": into the digests of this many last minutes.
RECENT = timedelta(hours=1)


async def delivery_figures(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    narrowed: Sequence[ColumnElement[bool]] = (),
    p95: bool = False,
) -> dict[str, Delivery]:
    """Figures per channel over the notifications created in [since, until)
    for the alerts that the `narrowed` conditions on Alert select (all when
    none); a channel without such notifications is absent (use NO_DELIVERY).
    Whole days come summed (db/notification_sums.py), the partial first and
    last days and any narrowing from the rows."""
    days = None if narrowed else notification_sums.whole_days(since, until)
    counted: dict[str, list[Any]] = {}
    if days is None:
        rows = await _counted(session, since=since, until=until, narrowed=narrowed)
    else:
        first, end = days
        rows = await notification_sums.grouped(session, days=days)
        if first is not None and since is not None and since < first:
            rows += await _counted(session, since=since, until=first)
        if end is not None and until is not None and end < until:
            rows += await _counted(session, since=end, until=until)
    for channel, *values in rows:
        total = counted.setdefault(channel, [0] * len(values))
        for i, value in enumerate(values):
            total[i] += value or 0

    figures: dict[str, Delivery] = {}
    for name in sorted(counted):
        # PostgreSQL sums integers as numeric: back to int and float here.
        sent, failed, pending, silenced, folded, latency_count = (
            int(counted[name][i]) for i in (0, 1, 2, 3, 4, 6)
        )
        latency_sum = float(counted[name][5])
        if not (sent or failed or pending or silenced or folded):
            continue  # deltas netted to nothing: no notification in scope
        p95_latency = None
        if p95:
            where, joined = _scope(since, until, narrowed)
            (p95_latency,) = await percentiles(
                session, OutboxRow.duration_ms,
                [OutboxRow.status == "sent", OutboxRow.channel == name, *where],
                (0.95,), count=sent, source=joined,
            )  # fmt: skip
        figures[name] = Delivery(
            sent=sent,
            failed=failed,
            pending=pending,
            silenced=silenced,
            folded=folded,
            success_rate=sent / (sent + failed) if sent + failed else None,
            mean_latency_ms=latency_sum / latency_count if latency_count else None,
            p95_latency_ms=p95_latency,
        )
    return figures


def _scope(
    since: datetime | None, until: datetime | None, narrowed: Sequence[ColumnElement[bool]]
) -> tuple[list[ColumnElement[bool]], FromClause | None]:
    """The conditions on the notifications in scope, and the join they need."""
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(OutboxRow.created_at >= since)
    if until is not None:
        where.append(OutboxRow.created_at < until)
    joined = join(OutboxRow, Alert, Alert.id == OutboxRow.alert_id) if narrowed else None
    return [*where, *narrowed], joined


async def _counted(
    session: AsyncSession,
    *,
    since: datetime | None,
    until: datetime | None,
    narrowed: Sequence[ColumnElement[bool]] = (),
) -> list[tuple[Any, ...]]:
    """Rows (channel, *notification_sums.MEASURES) from the notifications
    themselves: two grouped queries, each served by a partial index."""
    where, joined = _scope(since, until, narrowed)

    def over(*columns: Any) -> Any:
        statement = select(*columns)
        return statement.select_from(joined) if joined is not None else statement

    rows: list[tuple[Any, ...]] = [
        (channel, n, 0, 0, 0, 0, latency_sum or 0.0, latency_count)
        for channel, n, latency_sum, latency_count in await session.execute(
            over(
                OutboxRow.channel,
                func.count(),
                func.sum(OutboxRow.duration_ms),
                func.count(OutboxRow.duration_ms),
            )
            .where(OutboxRow.status == "sent", *where)
            .group_by(OutboxRow.channel)
        )
    ]
    column = {"failed": 2, "pending": 3, "sending": 3, "silenced": 4, "folded": 5}
    for channel, status, n in await session.execute(
        over(OutboxRow.channel, OutboxRow.status, func.count())
        .where(OutboxRow.status != "sent", *where)  # the partial index of unsent rows
        .group_by(OutboxRow.channel, OutboxRow.status)
    ):
        row = [channel, 0, 0, 0, 0, 0, 0.0, 0]
        row[column[status]] = n
        rows.append(tuple(row))
    return rows


async def channel_figures(
    session: AsyncSession, settings: Settings, *, now: datetime
) -> list[ChannelFigures]:
    """The configured channels, in configuration order, over all time; with
    flood control's figures of the last hour and any pause in force at `now`."""
    figures = await delivery_figures(session)
    recent = await folded_since(session, now - RECENT)
    states = await flood.states(session)
    result = []
    for name, config in settings.channels.items():
        delivery = figures.get(name, NO_DELIVERY)
        paused_until = states[name].paused_until if name in states else None
        result.append(
            ChannelFigures(
                name=name,
                type=config.type,
                mode=config.mode if isinstance(config, SlackChannel) else None,
                sent=delivery.sent,
                failed=delivery.failed,
                pending=delivery.pending,
                silenced=delivery.silenced,
                folded=delivery.folded,
                folded_last_hour=recent.get(name, 0),
                max_per_minute=config.max_per_minute,
                paused_until=paused_until if paused_until is not None and paused_until > now else None,
                success_rate=delivery.success_rate,
                mean_latency_ms=delivery.mean_latency_ms,
            )
        )
    return result


async def folded_since(session: AsyncSession, since: datetime) -> dict[str, int]:
    """Per channel, the notifications folded into the digests of minutes
    that began at `since` or later."""
    digest = aliased(OutboxRow)
    rows = await session.execute(
        select(OutboxRow.channel, func.count())
        .join(digest, digest.id == OutboxRow.digest_id)
        .where(OutboxRow.status == "folded", digest.window_start >= since)
        .group_by(OutboxRow.channel)
    )
    return {channel: int(n) for channel, n in rows}


@dataclass(frozen=True, slots=True)
class LastError:
    """The newest notification of a channel that is failing or waiting to retry."""

    error: str
    status: str  # failed, or pending again after a failed attempt
    queued_at: datetime
    attempts: int


async def last_errors(session: AsyncSession, channels: Sequence[str]) -> dict[str, LastError]:
    """Per channel, its newest unsent notification with an error; a sent one
    clears its error, so a channel absent here has none outstanding. One
    lookup per channel in the partial index of unsent rows."""
    found: dict[str, LastError] = {}
    for name in channels:
        row = (
            await session.execute(
                select(OutboxRow.last_error, OutboxRow.status, OutboxRow.created_at, OutboxRow.attempts)
                .where(
                    OutboxRow.channel == name,
                    OutboxRow.status != "sent",
                    OutboxRow.last_error.is_not(None),
                )
                .order_by(OutboxRow.created_at.desc(), OutboxRow.id.desc())
                .limit(1)
            )
        ).first()
        if row is not None:
            error, status, queued_at, attempts = row
            found[name] = LastError(str(error), status, queued_at, attempts)
    return found


async def channel_test(session: AsyncSession, notification_id: uuid.UUID) -> OutboxRow:
    """A test notification (POST /channels/{name}/test), to show how it went."""
    row = await session.get(OutboxRow, notification_id, populate_existing=True)
    if row is None or row.reason != "test":
        raise NotFound(f"test notification {notification_id} not found", field="test")
    return row
