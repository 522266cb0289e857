"""Per-channel delivery figures: the one place they are computed.

GET /channels shows them for the configured channels over all time; GET /stats
for a period (notifications by creation time), optionally narrowed to the
alerts of one type or source, for every channel that appears.

Two grouped queries, each served by a partial index: the sent rows (count and
mean latency, from ix_notifications_sent_latency) and the unsent rest, few by
nature: failed, waiting, held, folded (ix_notifications_unsent).

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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, func, join, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db import flood
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
    none); a channel without such notifications is absent (use NO_DELIVERY)."""
    where: list[ColumnElement[bool]] = []
    if since is not None:
        where.append(OutboxRow.created_at >= since)
    if until is not None:
        where.append(OutboxRow.created_at < until)
    joined: FromClause | None = join(OutboxRow, Alert, Alert.id == OutboxRow.alert_id) if narrowed else None
    where += narrowed

    def over(*columns: Any) -> Any:
        statement = select(*columns)
        return statement.select_from(joined) if joined is not None else statement

    is_sent = OutboxRow.status == "sent"
    delivered = {
        channel: (int(n), None if mean is None else float(mean))
        for channel, n, mean in await session.execute(
            over(OutboxRow.channel, func.count(), func.avg(OutboxRow.duration_ms))
            .where(is_sent, *where)
            .group_by(OutboxRow.channel)
        )
    }
    others: Counter[tuple[str, str]] = Counter()
    for channel, status, n in await session.execute(
        over(OutboxRow.channel, OutboxRow.status, func.count())
        .where(OutboxRow.status != "sent", *where)  # the partial index of unsent rows
        .group_by(OutboxRow.channel, OutboxRow.status)
    ):
        others[(channel, status)] += int(n)

    figures: dict[str, Delivery] = {}
    for name in sorted(set(delivered) | {channel for channel, _ in others}):
        sent, mean = delivered.get(name, (0, None))
        failed = others[(name, "failed")]
        p95_latency = None
        if p95:
            (p95_latency,) = await percentiles(
                session, OutboxRow.duration_ms, [is_sent, OutboxRow.channel == name, *where],
                (0.95,), count=sent, source=joined,
            )  # fmt: skip
        figures[name] = Delivery(
            sent=sent,
            failed=failed,
            pending=others[(name, "pending")] + others[(name, "sending")],
            silenced=others[(name, "silenced")],
            folded=others[(name, "folded")],
            success_rate=sent / (sent + failed) if sent + failed else None,
            mean_latency_ms=mean,
            p95_latency_ms=p95_latency,
        )
    return figures


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
