"""Alert routes: validate, open the transaction, call the service, answer."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api import batches
from app.api.auth import AUTH_RESPONSES, Caller, ManageCaller, ReadCaller, WriteCaller, team_to_read
from app.api.deps import NowDep, SessionDep, SettingsDep, StoreDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.db.store import Ingested
from app.errors import InvalidInput
from app.metrics import SUBMISSIONS, observe_move
from app.models import Alert
from app.pacing import Pacer
from app.schemas import (
    NAME_PATTERN,
    AlertAcknowledge,
    AlertDetail,
    AlertEventRead,
    AlertPage,
    AlertRead,
    AlertResolve,
    AlertStatusChange,
    AlertSubmitted,
    Moment,
    NotificationRead,
    Status,
)
from app.services import batch, escalation, lifecycle, queries, silence_match, submit
from app.settings import Settings, Severity

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/alerts",
    tags=["alerts"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)


def _read(alert: Alert, silenced_by: list[uuid.UUID]) -> AlertRead:
    """The read model, with the silences in force that match the alert."""
    return AlertRead.model_validate(alert).model_copy(
        update={"silenced": bool(silenced_by), "silenced_by": silenced_by}
    )


@router.post(
    "",
    response_model=AlertSubmitted,
    status_code=status.HTTP_201_CREATED,
    summary="Submit an alert, or a batch of alerts",
    description=(
        "Creates an alert (201, with Location) or merges a duplicate into the active "
        "alert with the same fingerprint (200). `outcome` says which; `notified` says "
        "whether the submission queued notifications (false when suppressed or held by a silence).\n\n"
        "An array of alerts (at most `max_batch_alerts`, 1,000 unless configured) is a batch: "
        "written in one transaction, all or nothing, and answered 200 with one result per alert, "
        "in order, each as the answer to that alert alone. An alert repeated within the batch merges "
        "into the first. A validation error names the alert by its index: `[3].severity`."
    ),
    responses={
        200: {
            "model": AlertSubmitted | list[AlertSubmitted],
            "description": "Merged into an existing alert; for an array, one result per alert",
        },
        413: ERROR_RESPONSES[413],
    },
)
async def submit_alert(
    body: Annotated[batches.Submission, Body(title="An alert, or an array of alerts (a batch)")],
    request: Request,
    caller: WriteCaller,
    store: StoreDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    # Usually answered below the framework (api/fast_submit.py); what
    # reaches this route is the same submission through the same store,
    # or a batch.
    if isinstance(body, list):
        plans = await batches.plans(body, team=caller.home_team, settings=settings, now=now)
        done = await batch.submit_many(
            request.app.state.sessionmaker,
            plans,
            team=caller.home_team,
            settings=settings,
            now=now,
            fast=request.app.state.batch_fast_path,
        )
        return await submitted_batch(request, done)
    one = batches.one(body)
    return submitted(
        request, await submit.submit(store, data=one, team=caller.home_team, settings=settings, now=now)
    )


# The answer's fields that the store hands back; `silenced` and
# `silenced_by` come from the submission's result.
_STORED_FIELDS = tuple(name for name in AlertRead.model_fields if name not in ("silenced", "silenced_by"))


def answer(done: Ingested) -> dict[str, Any]:
    """One submission's answer, counted and logged: on the hot path the row
    goes straight to the answer's fields, with no model in between."""
    SUBMISSIONS.labels(done.outcome).inc()
    row = done.alert
    if log.isEnabledFor(logging.INFO):
        log.info(
            "alert %s",
            done.outcome,
            extra={
                "alert_id": str(row["id"]),
                "fingerprint": row["fingerprint"],
                "outcome": done.outcome,
                "notify_reason": done.reason,
            },
        )
    payload = {name: row[name] for name in _STORED_FIELDS}
    payload["silenced"] = bool(done.silenced_by)
    payload["silenced_by"] = done.silenced_by
    payload["outcome"] = done.outcome
    payload["notified"] = done.queued > 0
    return payload


def _json(payload: Any) -> bytes:
    return orjson.dumps(payload, default=str, option=orjson.OPT_UTC_Z)  # default: asyncpg's UUID


def submitted(request: Request, done: Ingested) -> Response:
    """The answer to a submission (here and in api/fast_submit.py),
    serialised once with orjson."""
    if done.queued:
        request.app.state.wake_delivery_soon()
    if escalation.due_at_once(done):
        request.app.state.wake_escalation_soon()
    payload = answer(done)
    created = done.outcome == "created"
    row = done.alert
    return Response(
        _json(payload),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
        # GET /alerts/{id}, built here: url_for would walk every route per answer.
        headers={"Location": f"{str(request.base_url).rstrip('/')}{router.prefix}/{row['id']}"}
        if created
        else None,
    )


async def submitted_batch(request: Request, done: list[Ingested]) -> Response:
    """The answer to a batch: 200, one answer per alert, in order (made a
    slice at a time, letting the process's other requests in between)."""
    if any(one.queued for one in done):
        request.app.state.wake_delivery_soon()
    if any(escalation.due_at_once(one) for one in done):
        request.app.state.wake_escalation_soon()
    answers, pacer = [], Pacer()
    for one in done:
        answers.append(answer(one))
        await pacer.turn()
    return Response(_json(answers), media_type="application/json")


@router.get("", response_model=AlertPage, summary="List alerts, newest first")
async def list_alerts(
    caller: ReadCaller,
    session: SessionDep,
    now: NowDep,
    team: Annotated[
        str | None,
        Query(max_length=64, description="one team's alerts (a key confined to a team reads only its own)"),
    ] = None,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    alert_type: Annotated[str | None, Query(max_length=200, pattern=NAME_PATTERN)] = None,
    source: Annotated[str | None, Query(max_length=200, pattern=NAME_PATTERN)] = None,
    since: Annotated[Moment | None, Query(description="first_seen_at >= since (ISO 8601)")] = None,
    until: Annotated[Moment | None, Query(description="first_seen_at < until (ISO 8601)")] = None,
    label: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="key=value: alerts with this label value; repeatable, every one must match",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
            description="text in message, alert_type or source, ignoring case (no wildcards)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> AlertPage:
    filters = queries.AlertFilter(
        team=team_to_read(caller, team),
        status=list(status_) if status_ else None,
        severity=list(severity) if severity else None,
        alert_type=alert_type,
        source=source,
        since=since,
        until=until,
        labels=_label_filters(label),
        text=q,
    )
    async with session.begin():
        rows, next_cursor = await queries.list_alerts(session, filters=filters, limit=limit, cursor=cursor)
        matched = await silence_match.silenced_by(session, rows, now)
    return AlertPage(
        items=[_read(row, ids) for row, ids in zip(rows, matched, strict=True)], next_cursor=next_cursor
    )


def _label_filters(given: list[str] | None) -> dict[str, str] | None:
    """`env=prod` -> {"env": "prod"}; the same key twice is refused (it
    could never match both)."""
    if not given:
        return None
    labels: dict[str, str] = {}
    for i, pair in enumerate(given):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"label filter {pair[:100]!r} is not key=value", field=f"label.{i}")
        if key in labels and labels[key] != value:
            raise InvalidInput(f"label {key[:100]!r} is asked for twice with two values", field=f"label.{i}")
        labels[key] = value
    return labels


@router.get(
    "/{alert_id}",
    response_model=AlertDetail,
    summary="One alert with its history and notifications",
    responses={404: ERROR_RESPONSES[404]},
)
async def get_alert(alert_id: uuid.UUID, caller: ReadCaller, session: SessionDep, now: NowDep) -> AlertDetail:
    async with session.begin():
        alert = await queries.get(session, alert_id, team=caller.confined_to)
        events = await queries.history(session, alert_id)
        sent = await queries.notifications(session, alert_id)
        [matched] = await silence_match.silenced_by(session, [alert], now)
    read = _read(alert, matched)
    return AlertDetail(
        **read.model_dump(),
        history=[AlertEventRead.model_validate(e) for e in events],
        notifications=[NotificationRead.model_validate(n) for n in sent],
    )


_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {404: ERROR_RESPONSES[404], 409: ERROR_RESPONSES[409]}


async def move(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    caller: Caller,
    alert_id: uuid.UUID,
    status: str,
    by: str,
    note: str | None,
    settings: Settings,
    now: datetime,
    origin: dict[str, str] | None = None,
) -> tuple[Alert, list[uuid.UUID]]:
    """One lifecycle move in its own transaction, for the API, the console
    and email links alike: the alert and the silences holding it. The transaction
    runs again once if its connection was lost before COMMIT
    (db/transaction.py): the move is then applied once, not twice. The
    caller wakes the delivery worker, once for however many moves."""

    async def work(session: AsyncSession) -> tuple[Alert, list[uuid.UUID]]:
        alert = await lifecycle.change_status(
            session,
            alert_id=alert_id,
            status=status,
            by=by,
            note=note,
            settings=settings,
            now=now,
            team=caller.confined_to,
            origin=origin,
        )
        [matched] = await silence_match.silenced_by(session, [alert], now)
        return alert, matched

    alert, matched = await transaction.run(sessionmaker, work)
    observe_move(alert, now=now)
    log.info(
        "alert %s",
        alert.status,
        extra={
            "alert_id": str(alert.id),
            "fingerprint": alert.fingerprint,
            "outcome": alert.status,
            **(origin or {}),
        },
    )
    return alert, matched


async def _move(
    request: Request,
    settings: Settings,
    now: datetime,
    *,
    caller: Caller,
    alert_id: uuid.UUID,
    status: str,
    by: str,
    note: str | None,
) -> AlertRead:
    """A move answered with the alert."""
    alert, matched = await move(
        request.app.state.sessionmaker,
        caller=caller,
        alert_id=alert_id,
        status=status,
        by=by,
        note=note,
        settings=settings,
        now=now,
    )
    request.app.state.wake_delivery()
    return _read(alert, matched)


@router.patch(
    "/{alert_id}/acknowledge",
    response_model=AlertRead,
    summary="Acknowledge: stops escalation",
    responses=_CHANGE_RESPONSES,
)
async def acknowledge_alert(
    alert_id: uuid.UUID,
    body: AlertAcknowledge,
    request: Request,
    caller: ManageCaller,
    settings: SettingsDep,
    now: NowDep,
) -> AlertRead:
    return await _move(
        request,
        settings,
        now,
        caller=caller,
        alert_id=alert_id,
        status="acknowledged",
        by=body.by,
        note=body.note,
    )


@router.patch(
    "/{alert_id}/resolve",
    response_model=AlertRead,
    summary="Resolve, recording who and how long it took",
    responses=_CHANGE_RESPONSES,
)
async def resolve_alert(
    alert_id: uuid.UUID,
    body: AlertResolve,
    request: Request,
    caller: ManageCaller,
    settings: SettingsDep,
    now: NowDep,
) -> AlertRead:
    return await _move(
        request,
        settings,
        now,
        caller=caller,
        alert_id=alert_id,
        status="resolved",
        by=body.resolved_by,
        note=body.notes,
    )


@router.patch(
    "/{alert_id}/status",
    response_model=AlertRead,
    summary="Any allowed lifecycle move",
    responses=_CHANGE_RESPONSES,
)
async def change_alert_status(
    alert_id: uuid.UUID,
    body: AlertStatusChange,
    request: Request,
    caller: ManageCaller,
    settings: SettingsDep,
    now: NowDep,
) -> AlertRead:
    return await _move(
        request,
        settings,
        now,
        caller=caller,
        alert_id=alert_id,
        status=body.status,
        by=body.by,
        note=body.note,
    )
