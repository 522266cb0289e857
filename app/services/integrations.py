"""Apply Alertmanager notifications and PagerDuty events with the alert rules.

A firing or triggered alert is an ordinary submission (deduplicated on the
sender's key); a resolved one, or a PagerDuty acknowledge or resolve, acts on
the active alert with that key. Acting on a key with no active alert is not an
error: both senders repeat themselves, so these are idempotent no-ops.

An Alertmanager notification is a batch (services/batch.py): its alerts,
firing and resolved, are applied in one transaction of their own. A
PagerDuty event is one alert, in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from pydantic import ValidationError
from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.db.store import Ingested
from app.errors import AppError
from app.heartbeat_schemas import HeartbeatBeat
from app.integrations import alertmanager as am
from app.integrations import pagerduty as pd
from app.models import ACTIVE_STATUSES, Alert
from app.pacing import Pacer
from app.schemas import AlertCreate
from app.services import batch, heartbeats, lifecycle
from app.services.decisions import channels_for, plan
from app.services.dedup import fingerprint
from app.services.submit import submit_in
from app.settings import Settings


def check_channels(channels: list[str] | None, settings: Settings) -> list[str] | None:
    """The channels named in the query string, refused if one is unknown;
    None for the defaults."""
    if channels:
        channels_for(channels, settings)
    return channels or None


async def latest(session: AsyncSession, team: str, key: str) -> Alert | None:
    """The team's alert with this fingerprint: the active one, else the newest."""
    active_first = case((Alert.status.in_(ACTIVE_STATUSES), 0), else_=1)
    return await session.scalar(
        select(Alert)
        .where(Alert.team == team, Alert.fingerprint == key)
        .order_by(active_first, Alert.first_seen_at.desc())
        .limit(1)
    )


# --- Alertmanager -----------------------------------------------------------------


async def apply_alertmanager(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    hook: am.AlertmanagerWebhook,
    channels: list[str] | None,
    team: str,
    settings: Settings,
    now: datetime,
    fast: batch.FastPath | None = None,
) -> tuple[list[am.AlertmanagerResult], int]:
    """One notification, one transaction (services/batch.py, through `fast`
    where the store has its own path for it): each firing
    alert a submission, each resolved one a resolve, in the payload's order.
    An alert that cannot be mapped is reported `rejected` and the others
    still apply. Returns the results and the notifications queued."""
    results: list[am.AlertmanagerResult] = []
    operations: list[batch.Operation] = []
    applied: list[am.AlertmanagerResult] = []  # the results the operations fill in, in order
    pacer = Pacer()
    watchdog_fired = False
    for index, item in enumerate(hook.alerts):
        result = am.AlertmanagerResult(
            index=index, fingerprint=item.fingerprint, status=item.status, outcome="rejected"
        )
        results.append(result)
        if am.is_watchdog(item, settings.alertmanager_watchdog):
            result.outcome, result.heartbeat_name = "heartbeat", am.watchdog_heartbeat(hook)
            watchdog_fired = watchdog_fired or item.status == "firing"
            continue
        try:
            data = am.submission(item, hook, channels)
            if item.status == "firing":
                operations.append(plan(data, team=team, settings=settings, now=now))
            else:
                key = data.dedup_key or _computed(data)
                operations.append(batch.Resolve(key, am.RESOLVED_BY, am.ended_note(item)))
        except (ValidationError, ValueError) as exc:
            result.error = _first_error(exc)
            continue
        except AppError as exc:
            result.error = exc.message
            continue
        applied.append(result)
        await pacer.turn()  # mapping 1,000 alerts takes a while: let other requests in
    if watchdog_fired:
        await _watchdog_beat(sessionmaker, hook=hook, team=team, settings=settings, now=now)
    queued = 0
    done = await batch.apply(sessionmaker, operations, team=team, settings=settings, now=now, fast=fast)
    for result, outcome in zip(applied, done, strict=True):
        if isinstance(outcome, Ingested):
            result.outcome = cast(am.AlertmanagerOutcome, outcome.outcome)
            result.alert_id = str(outcome.alert["id"])
            queued += outcome.queued
        else:
            result.outcome = cast(am.AlertmanagerOutcome, outcome.outcome)
            result.alert_id = str(outcome.alert_id) if outcome.alert_id else None
    return results, queued


async def _watchdog_beat(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    hook: am.AlertmanagerWebhook,
    team: str,
    settings: Settings,
    now: datetime,
) -> None:
    """The watchdog alert is that Alertmanager's heartbeat: when it stops
    arriving, the pipeline that would page about everything else is down,
    and the missed heartbeat pages instead (services/heartbeats.py). Its own
    transaction: a beat repeated because the rest failed does no harm."""
    name = am.watchdog_heartbeat(hook)
    data = HeartbeatBeat(
        timeout_seconds=settings.alertmanager_watchdog_timeout_seconds,
        message=f"{settings.alertmanager_watchdog} from {name} stopped: alerts routed through it reach nobody",
    )
    await transaction.run(
        sessionmaker,
        lambda session: heartbeats.beat(session, team=team, name=name, data=data, settings=settings, now=now),
    )


def _computed(data: AlertCreate) -> str:
    return fingerprint(alert_type=data.alert_type, source=data.source, labels=data.labels)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else str(err["msg"])
    return str(exc)


# --- PagerDuty --------------------------------------------------------------------


async def apply_pagerduty(
    session: AsyncSession,
    *,
    event: pd.PagerDutyEvent,
    team: str,
    key_name: str | None,
    settings: Settings,
    now: datetime,
) -> str:
    """Returns the event's dedup_key (generated for a trigger without one).
    `key_name`: the routing key's name, None when the service runs open."""
    pd.check(event)
    if event.event_action == "trigger":
        dedup_key = event.dedup_key or pd.new_dedup_key()
        data = pd.submission(event, dedup_key=dedup_key, key_name=key_name)
        await submit_in(session, data=data, team=team, settings=settings, now=now)
        return dedup_key
    assert event.dedup_key is not None  # check() ran
    alert = await latest(session, team, event.dedup_key)
    if alert is None:
        return event.dedup_key
    if event.event_action == "acknowledge" and alert.status in ("open", "reopened"):
        await lifecycle.acknowledge(
            session,
            alert_id=alert.id,
            by=pd.actor(key_name),
            note="acknowledged via the Events API",
            settings=settings,
            now=now,
        )
    elif event.event_action == "resolve" and alert.status in ACTIVE_STATUSES:
        await lifecycle.resolve(
            session,
            alert_id=alert.id,
            resolved_by=pd.actor(key_name),
            notes="resolved via the Events API",
            settings=settings,
            now=now,
        )
    return event.dedup_key
