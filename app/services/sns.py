"""Amazon SNS: prove a message came from SNS, confirm a subscription, apply
a notification.

Order matters. The route lets the key in first (app/api/auth.py), so nobody
without one makes us fetch anything; then `authenticate` checks the
message's age and the host of its certificate before fetching it, and the
signature before anything else reads the message. Certificates are kept in
memory by URL: SNS signs with few of them and rotates them rarely.

A subscription is confirmed (a GET of its SubscribeURL, on a trusted host,
redirects not followed by the shared client) only for a topic configured
for the key's team (`sns_topics`); notifications from any other topic are
refused the same way, so removing a topic stops it even while subscribed.

A CloudWatch alarm acts on the alert keyed by the alarm: ALARM submits (as
any submission: deduplicated, reopened), OK resolves, INSUFFICIENT_DATA is
written to the alert's history. Any other notification is one submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import history
from app.errors import AppError, Forbidden, InvalidInput, Unavailable
from app.integrations import sns
from app.models import ACTIVE_STATUSES
from app.services import lifecycle
from app.services.integrations import latest
from app.services.submit import submit_in
from app.settings import Settings

FETCH_TIMEOUT = httpx.Timeout(5.0)
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_CACHED = 64


class Certificates:
    """Signing certificates by URL, fetched once each."""

    def __init__(self) -> None:
        self._by_url: dict[str, bytes] = {}

    async def get(self, client: httpx.AsyncClient, url: str) -> bytes:
        cached = self._by_url.get(url)
        if cached is not None:
            return cached
        try:
            response = await client.get(url, timeout=FETCH_TIMEOUT)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"the signing certificate could not be fetched: {type(exc).__name__}", field="SigningCertURL"
            ) from None
        if response.status_code != 200 or len(response.content) > MAX_CERTIFICATE_BYTES:
            raise Forbidden(
                f"the signing certificate could not be fetched (HTTP {response.status_code})",
                field="SigningCertURL",
            )
        if len(self._by_url) >= MAX_CACHED:
            self._by_url.pop(next(iter(self._by_url)))
        self._by_url[url] = response.content
        return response.content


async def authenticate(
    message: sns.SnsMessage,
    *,
    certificates: Certificates,
    client: httpx.AsyncClient,
    settings: Settings,
    now: datetime,
) -> None:
    """Raises (Forbidden, or AppError for a malformed message) unless SNS
    sent this message within the hour."""
    sns.canonical(message)  # a field the type signs is missing: malformed, not forged
    sns.check_fresh(message, now)
    untrusted = sns.trusted_url(message.SigningCertURL, settings.sns_allowed_hosts)
    if untrusted:
        raise Forbidden(f"SigningCertURL refused: {untrusted}", field="SigningCertURL")
    pem = await certificates.get(client, message.SigningCertURL)
    sns.verify(message, pem, now)


def check_topic(message: sns.SnsMessage, *, team: str, settings: Settings) -> None:
    if not settings.sns_topics:
        raise Forbidden("no SNS topic is allowed: configure sns_topics", field="TopicArn")
    if not any(t.arn == message.TopicArn and t.team == team for t in settings.sns_topics):
        raise Forbidden(
            f"topic {message.TopicArn} is not allowed for team {team!r} (sns_topics)", field="TopicArn"
        )


async def confirm(message: sns.SnsMessage, *, client: httpx.AsyncClient, settings: Settings) -> None:
    url = message.SubscribeURL or ""
    untrusted = sns.trusted_url(url, settings.sns_allowed_hosts)
    if untrusted:
        raise Forbidden(f"SubscribeURL refused: {untrusted}", field="SubscribeURL")
    try:
        response = await client.get(url, timeout=FETCH_TIMEOUT)
    except httpx.HTTPError as exc:
        raise Unavailable(f"the subscription could not be confirmed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise AppError(f"SNS refused the confirmation (HTTP {response.status_code})", field="SubscribeURL")


@dataclass(frozen=True, slots=True)
class Applied:
    outcome: sns.SnsOutcome
    alert_id: str | None = None


async def apply_notification(
    session: AsyncSession, *, message: sns.SnsMessage, team: str, settings: Settings, now: datetime
) -> Applied:
    found = sns.alarm(message)
    if found is not None and found.state != "ALARM":
        return await _state_change(session, found, team=team, settings=settings, now=now)
    try:
        if found is None:
            data = sns.message_submission(message)
        else:
            data = sns.alarm_submission(found, severity=settings.sns_alarm_severity, topic=message.TopicArn)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"the message makes no valid alert: {where}: {err['msg']}", field=where) from None
    ingested = await submit_in(session, data=data, team=team, settings=settings, now=now)
    return Applied(outcome=ingested.outcome, alert_id=str(ingested.alert["id"]))  # type: ignore[arg-type]


async def _state_change(
    session: AsyncSession, found: sns.Alarm, *, team: str, settings: Settings, now: datetime
) -> Applied:
    alert = await latest(session, team, found.key)
    if alert is None:
        return Applied(outcome="unknown" if found.state == "OK" else "ignored")
    if found.state == "OK":
        if alert.status not in ACTIVE_STATUSES:
            return Applied(outcome="already_resolved", alert_id=str(alert.id))
        await lifecycle.resolve(
            session,
            alert_id=alert.id,
            resolved_by=sns.RESOLVED_BY,
            notes=found.reason,
            settings=settings,
            now=now,
        )
        return Applied(outcome="resolved", alert_id=str(alert.id))
    # INSUFFICIENT_DATA (or a state CloudWatch may add): worth knowing, not worth a page.
    session.add(
        history.event(
            alert.id,
            kind="cloudwatch_state",
            at=now,
            actor=sns.RESOLVED_BY,
            note=found.reason,
            state=found.state,
        )
    )
    return Applied(outcome="recorded", alert_id=str(alert.id))
