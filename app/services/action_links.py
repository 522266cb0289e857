"""Acknowledge and resolve links in emails: signed, expiring tokens.

An email about an active alert carries one link per move the alert allows
(acknowledge while open or reopened, resolve while active), each
`{public_url}/actions/{token}`. The token is the credential: whoever holds
the mail may make that one move on that one alert until the link expires,
without signing in. So it is signed: itsdangerous' HMAC over [alert id,
action, channel, issued at], with `action_secret`, or else the key the
console keeps in the database (db/secrets.py) under a salt of its own, so
that a console cookie is never a valid link nor a link a valid cookie.
Changing any part (another action, another alert) breaks the signature.

The issue time is a field of the token rather than itsdangerous' own
timestamp so that the service's clock decides both issuing and expiry
(tests move that clock instead of waiting a day).

A valid link is still refused when its move is no longer allowed (someone
acknowledged or resolved the alert first: 409), when it was sent before the
alert's last reopen (the mail was about the earlier incident: 409), and when
its channel is no longer a configured email channel (a removed channel's
links die with it: 403).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.secrets import shared_secret
from app.errors import AppError, Conflict, Forbidden
from app.models import Alert
from app.notifiers.base import Notification
from app.services import lifecycle
from app.settings import EmailChannel, Settings

# Action in the link -> the status it moves the alert to, and its button.
ACTIONS: dict[str, str] = {"acknowledge": "acknowledged", "resolve": "resolved"}
LABELS: dict[str, str] = {"acknowledge": "Acknowledge", "resolve": "Resolve"}
SALT = "alerts-email-action"  # the console's cookies use "alerts-console-session"
CONSOLE_SECRET = "console_session"  # the database row the console signs with (ui/session.py)
MAX_TOKEN_CHARS = 512
# What the history records of a move made through a link (AlertEvent.data).
VIA = "email_link"


class LinkInvalid(Forbidden):
    """Not a token this service made, altered, or for a channel that is gone."""


class LinkExpired(AppError):
    status_code = 410
    code = "gone"


@dataclass(frozen=True, slots=True)
class ActionClaim:
    """What a valid token allows: one move of one alert, and who made it."""

    alert_id: uuid.UUID
    action: str
    channel: str
    issued_at: datetime
    by: str  # `email:<the channel's recipients>`: one of them followed the link

    @property
    def status(self) -> str:
        return ACTIONS[self.action]

    @property
    def origin(self) -> dict[str, str]:
        return {"via": VIA, "channel": self.channel}


def offered(status: str | None) -> list[str]:
    """The actions a link may carry for an alert in `status`, in order."""
    allowed = lifecycle.ALLOWED_MOVES.get(status or "", frozenset())
    return [action for action, target in ACTIONS.items() if target in allowed]


def check(claim: ActionClaim, alert: Alert) -> None:
    """Conflict when the link can no longer make its move on the alert as it is now."""
    if claim.status not in lifecycle.ALLOWED_MOVES.get(alert.status, frozenset()):
        raise Conflict(f"{_already(alert)}: nothing changed", field="status")
    if claim.issued_at.timestamp() < int(alert.triggered_at.timestamp()):
        raise Conflict(
            "this link was sent before the alert was reopened; use the email about the reopened alert, "
            "or the console: nothing changed",
            field="token",
        )


def _already(alert: Alert) -> str:
    status = alert.status.replace("_", " ")
    if alert.status == "acknowledged" and alert.acknowledged_by:
        return f"this alert is already acknowledged (by {alert.acknowledged_by})"
    if alert.status == "resolved" and alert.resolved_by:
        return f"this alert is already resolved (by {alert.resolved_by})"
    return f"this alert is already {status}"


class ActionLinks:
    """Issues the links of an email and reads them back, with one key."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._serializer: URLSafeSerializer | None = None
        self.ttl = timedelta(hours=settings.action_link_ttl_hours)

    async def _signer(self) -> URLSafeSerializer:
        # Made on first use: the key may have to be read from the database,
        # which need not be up when the service starts.
        if self._serializer is None:
            given = self._settings.action_secret
            secret = (
                given.get_secret_value()
                if given is not None
                else await shared_secret(self._sessionmaker, CONSOLE_SECRET)
            )
            self._serializer = URLSafeSerializer(secret, salt=SALT)
        return self._serializer

    async def issue(self, *, alert_id: uuid.UUID | str, action: str, channel: str, now: datetime) -> str:
        signer = await self._signer()
        return str(signer.dumps([str(alert_id), action, channel, int(now.timestamp())]))

    def url(self, token: str) -> str:
        return f"{self._settings.public_url.rstrip('/')}/actions/{token}"

    async def links(self, notification: Notification) -> list[tuple[str, str]]:
        """(label, url) of each action the notification's alert allows; none
        for a resolved notice or a channel test."""
        alert = notification.alert
        if alert is None or notification.reason == "resolved" or not alert.get("id"):
            return []
        now = self._clock()
        return [
            (
                LABELS[action],
                self.url(
                    await self.issue(
                        alert_id=alert["id"], action=action, channel=notification.channel, now=now
                    )
                ),
            )
            for action in offered(alert.get("status"))
        ]

    async def read(self, token: str, *, now: datetime) -> ActionClaim:
        """The claim of a token; LinkInvalid or LinkExpired when it gives none."""
        if len(token) > MAX_TOKEN_CHARS:
            raise LinkInvalid("this link is not one this service made", field="token")
        signer = await self._signer()
        try:
            data: Any = signer.loads(token)
        except BadSignature as exc:
            raise LinkInvalid(
                "this link is not one this service made, or it was changed on the way", field="token"
            ) from exc
        alert_id, action, channel, issued_at = _fields(data)
        expired_at = issued_at + self.ttl
        if now >= expired_at:
            raise LinkExpired(
                f"this link expired at {expired_at:%Y-%m-%d %H:%M} UTC (links last "
                f"{self._settings.action_link_ttl_hours:g} hours after the email is sent); "
                "open the alert in the console instead",
                field="token",
            )
        config = self._settings.channels.get(channel)
        if not isinstance(config, EmailChannel):
            raise LinkInvalid(f"the channel this link was sent through ({channel}) is gone", field="token")
        by = ("email:" + ",".join(config.to))[:200]
        return ActionClaim(alert_id, action, channel, issued_at, by)


def _fields(data: Any) -> tuple[uuid.UUID, str, str, datetime]:
    """A signed payload's fields, checked: only this module signs with the
    salt, but a payload of an older shape must still fail cleanly."""
    try:
        alert_id, action, channel, issued = data
        if action not in ACTIONS or not isinstance(channel, str) or type(issued) is not int:
            raise ValueError("unexpected field")
        return uuid.UUID(alert_id), action, channel, datetime.fromtimestamp(issued, UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise LinkInvalid("this link is not one this service made", field="token") from exc
