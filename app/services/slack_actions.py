"""The rules of a Slack button: whose secrets verify it, a replay refused,
and which alerts it may move.

Every Slack channel in app mode with a `signing_secret` is tried; channels
of one Slack app share its secret, so several may verify one request. A
click acts only on an alert that one of them serves: the alert names the
channel, or the channel posted a message about it (an escalation level's
channel, say). The move itself is the API's (api/alerts.py `move`), with the
Slack user as `by`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import channel_messages, seen_requests
from app.errors import Forbidden, NotFound
from app.integrations.slack import MAX_AGE_SECONDS, Replayed
from app.models import Alert
from app.settings import Settings, SlackChannel

# A timestamp is accepted within MAX_AGE_SECONDS either side of now, so a
# signature is kept twice that long: a replay is stale by the time it is forgotten.
KEEP_SIGNATURES = timedelta(seconds=2 * MAX_AGE_SECONDS)


def signing_secrets(settings: Settings) -> dict[str, str]:
    """Channel name -> signing secret, for the Slack channels in app mode that have one."""
    return {
        name: config.signing_secret.get_secret_value()
        for name, config in settings.channels.items()
        if isinstance(config, SlackChannel) and config.mode == "app" and config.signing_secret is not None
    }


async def take(session: AsyncSession, *, signature: str, now: datetime) -> None:
    """Record a verified request's signature; Replayed when it was taken before."""
    if not await seen_requests.first_sighting(
        session, signature, now=now, forget_before=now - KEEP_SIGNATURES
    ):
        raise Replayed("this request was already taken (a replay)", field="x-slack-signature")


async def status_for(session: AsyncSession, *, alert_id: uuid.UUID, channels: list[str]) -> str:
    """The status of an alert that one of `channels` serves; NotFound when
    there is no such alert, Forbidden when none of them serves it."""
    alert = await session.scalar(select(Alert).where(Alert.id == alert_id))
    if alert is None:
        raise NotFound(f"alert {alert_id} not found", field="payload.actions.0.value")
    if not set(alert.channels or ()) & set(channels) and not await channel_messages.posted(
        session, alert_id=alert_id, channels=channels
    ):
        raise Forbidden(
            "this alert is not one of the signing channel's alerts", field="payload.actions.0.value"
        )
    return alert.status
