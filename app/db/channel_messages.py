"""References a channel keeps to what it posted about an alert (a Slack
app's message: channel id and ts), one per alert and channel.

An adapter returns a reference with its result (notifiers/base.py); the
store writes it in the same transaction as the `sent` mark, only for a row
still ours (a lost lease keeps nothing), and the next claim of that alert's
notification on that channel reads it back into the Notification. The ORM
store does both here; the one-statement store inside its own statements
(db/pg_delivery.py). A channel's notifications of one alert are claimed one
at a time (db/store.py `claim`), so two deliveries never race to post.

The table is also the record of which alerts a channel posted about: a
Slack button is honoured only on such an alert (services/slack_actions.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ChannelMessage

Key = tuple[uuid.UUID, str]  # (alert id, channel name)


async def keep(
    session: AsyncSession, references: Sequence[tuple[uuid.UUID, str, dict[str, Any]]], *, now: datetime
) -> None:
    """Insert or replace each (alert id, channel, reference)."""
    if not references:
        return
    latest = {(alert_id, channel): reference for alert_id, channel, reference in references}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(ChannelMessage).values(
        [
            {"alert_id": alert_id, "channel": channel, "reference": reference, "updated_at": now}
            for (alert_id, channel), reference in latest.items()
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["alert_id", "channel"],
            set_={"reference": statement.excluded.reference, "updated_at": statement.excluded.updated_at},
        )
    )


async def read(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
    """The references kept for these (alert id, channel) pairs."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = await session.execute(
        select(ChannelMessage.alert_id, ChannelMessage.channel, ChannelMessage.reference).where(
            ChannelMessage.alert_id.in_({alert_id for alert_id, _ in wanted})
        )
    )
    return {(a, c): ref for a, c, ref in rows if (a, c) in wanted}


async def posted(session: AsyncSession, *, alert_id: uuid.UUID, channels: Iterable[str]) -> list[str]:
    """Those of `channels` that posted a message about the alert."""
    names = list(channels)
    if not names:
        return []
    rows = await session.scalars(
        select(ChannelMessage.channel).where(
            ChannelMessage.alert_id == alert_id, ChannelMessage.channel.in_(names)
        )
    )
    return sorted(rows)
