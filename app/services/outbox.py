"""Queue notifications in the outbox, inside the caller's transaction.

A row here is the promise that a notification will be delivered: it commits
with the alert change that caused it, or not at all. The delivery worker
sends it later; nothing on the request path touches the network.

While a silence matches the alert, rows are written `silenced` with the
silence's id instead of `pending`: recorded, never claimed for delivery. When
the silence ends, services/silences.py sends one notice per held channel for
alerts that are still active.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import outbox
from app.models import Alert, OutboxRow
from app.services import silence_match
from app.settings import ChannelConfig, OpsgenieChannel, PagerDutyChannel, Settings, SlackChannel

REASONS = (
    "new",
    "repeated",
    "window",
    "severity",
    "reopened",
    "escalation",
    "repeat",
    "acknowledged",
    "resolved",
    "unsilenced",
    "test",
    "digest",
)


def follows_state(config: ChannelConfig) -> bool:
    """Whether a channel mirrors the alert's state (an incident, a message it
    updates), and so is told when the alert is acknowledged. Its
    notifications of one alert are also delivered one at a time, in order
    (db/store.py `claim`): an acknowledgement must not overtake the trigger."""
    if isinstance(config, SlackChannel):
        return config.mode == "app"
    return isinstance(config, PagerDutyChannel | OpsgenieChannel)


def in_order(settings: Settings) -> tuple[str, ...]:
    """The channels whose notifications of one alert go out one at a time."""
    return tuple(name for name, config in settings.channels.items() if follows_state(config))


def route(alert: Alert, settings: Settings, *, reason: str, extra: Iterable[str] = ()) -> list[str]:
    """The channels a notification goes to: the alert's own (or the defaults),
    plus any extra ones (an escalation level's), each once, in order. An
    acknowledged notice goes only to the `extra` channels (those told about
    the alert) that follow its state; other channels are not told (for them
    acknowledging only stops escalation)."""
    if reason == "acknowledged":
        return [
            name for name in dict.fromkeys(extra)
            if name in settings.channels and follows_state(settings.channels[name])
        ]  # fmt: skip
    names = dict.fromkeys([*(alert.channels or settings.default_channels), *extra])
    chosen = [name for name in names if name in settings.channels]
    if reason == "resolved":
        chosen = [name for name in chosen if settings.channels[name].send_resolved]
    return chosen


async def queue(
    session: AsyncSession,
    *,
    alert: Alert,
    reason: str,
    settings: Settings,
    now: datetime,
    level: int | None = None,
    extra_channels: Iterable[str] = (),
) -> list[OutboxRow]:
    rows = await build(
        session,
        alert=alert,
        reason=reason,
        settings=settings,
        now=now,
        level=level,
        extra_channels=extra_channels,
    )
    session.add_all(rows)
    return rows


async def build(
    session: AsyncSession,
    *,
    alert: Alert,
    reason: str,
    settings: Settings,
    now: datetime,
    level: int | None = None,
    extra_channels: Iterable[str] = (),
) -> list[OutboxRow]:
    """`queue`'s rows, not added to the session: the ticker writes a batch's
    rows in one statement (services/oncall/paging.py `write`)."""
    if not settings.enabled:
        return []
    channels = route(alert, settings, reason=reason, extra=extra_channels)
    if not channels:
        return []
    held_by = await silence_match.held_by(session, alert, now)
    return outbox.rows(
        alert_id=alert.id,
        channels=channels,
        reason=reason,
        level=level or alert.escalation_level,
        now=now,
        silence_id=held_by[0] if held_by else None,
    )


@dataclass(frozen=True, slots=True)
class PersonRow:
    """A notification to a person: their contact method's address, through
    the channel that delivers that type (services/oncall/contacts.py)."""

    channel: str
    user_id: uuid.UUID
    recipient: str


async def step_rows(
    session: AsyncSession,
    *,
    alert: Alert,
    reason: str,
    level: int,
    channels: Iterable[str],
    people: Iterable[PersonRow],
    settings: Settings,
    now: datetime,
) -> list[OutboxRow]:
    """The rows of one step of a stored escalation policy: one per channel it
    names and one per person's contact method, held by a silence as any.
    Not added to the session: the ticker writes a batch's rows in one
    statement (services/oncall/paging.py)."""
    if not settings.enabled:
        return []
    names = [name for name in dict.fromkeys(channels) if name in settings.channels]
    to_people = [person for person in dict.fromkeys(people) if person.channel in settings.channels]
    if not names and not to_people:
        return []
    held_by = await silence_match.held_by(session, alert, now)
    silence_id = held_by[0] if held_by else None
    rows = outbox.rows(
        alert_id=alert.id, channels=names, reason=reason, level=level, now=now, silence_id=silence_id
    )
    for person in to_people:
        rows += outbox.rows(
            alert_id=alert.id,
            channels=[person.channel],
            reason=reason,
            level=level,
            now=now,
            silence_id=silence_id,
            user_id=person.user_id,
            recipient=person.recipient,
        )
    return rows


# A notice in one of these states told (or is telling) its channel about the
# alert; a folded one, in its channel's digest.
TOLD = ("pending", "sending", "sent", "failed", "folded")


def told(row: OutboxRow) -> bool:
    """Whether this row counts in `channels_told` (a resolved notice goes back
    to its channel). A person's row does not: it told the person, not the
    channel's own recipients."""
    return row.status in TOLD and row.reason != "resolved" and row.recipient is None


async def channels_told(session: AsyncSession, *, alert_id: uuid.UUID) -> list[str]:
    """Channels that were sent (or are sending) a notice about this alert, an
    escalation level's included: a resolved notice goes back to each of them."""
    rows = await session.scalars(
        select(OutboxRow.channel)
        .where(
            OutboxRow.alert_id == alert_id,
            OutboxRow.status.in_(TOLD),
            OutboxRow.reason != "resolved",
            OutboxRow.recipient.is_(None),
        )
        .distinct()
    )
    return sorted(rows)


async def channels_told_many(
    session: AsyncSession, alert_ids: Iterable[uuid.UUID]
) -> list[tuple[uuid.UUID, str]]:
    """`channels_told` of many alerts in one read: (alert id, channel) pairs
    in a stable order, so that two reads compare as lists."""
    wanted = sorted(set(alert_ids))
    pairs: list[tuple[uuid.UUID, str]] = []
    for first in range(0, len(wanted), 500):  # bound parameters per statement
        rows = await session.execute(
            select(OutboxRow.alert_id, OutboxRow.channel)
            .where(
                OutboxRow.alert_id.in_(wanted[first : first + 500]),
                OutboxRow.status.in_(TOLD),
                OutboxRow.reason != "resolved",
                OutboxRow.recipient.is_(None),
            )
            .distinct()
            .order_by(OutboxRow.alert_id, OutboxRow.channel)
        )
        pairs += [(alert_id, channel) for alert_id, channel in rows if alert_id is not None]
    return pairs


async def queue_test(session: AsyncSession, *, channel: str, now: datetime) -> OutboxRow:
    [row] = outbox.rows(alert_id=None, channels=[channel], reason="test", level=1, now=now)
    session.add(row)
    return row
