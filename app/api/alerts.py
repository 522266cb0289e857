"""Alert routes: validate, open the transaction, call the service, answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.api.auth import AUTH_RESPONSES, ManageAccess, ReadAccess, WriteAccess
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.errors import ERROR_RESPONSES
from app.models import Alert
from app.schemas import (
    NAME_PATTERN,
    AlertAcknowledge,
    AlertCreate,
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
from app.services import alerts
from app.settings import Severity

router = APIRouter(
    prefix="/alerts",
    tags=["alerts"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)


def _wake_delivery(request: Request) -> None:
    wake = getattr(request.app.state, "wake_delivery", None)
    if wake is not None:
        wake()


@router.post(
    "",
    dependencies=[WriteAccess],
    response_model=AlertSubmitted,
    status_code=status.HTTP_201_CREATED,
    summary="Submit an alert",
    description=(
        "Creates an alert (201, with Location) or merges a duplicate into the active "
        "alert with the same fingerprint (200). `outcome` says which; `notified` says "
        "whether the submission queued notifications."
    ),
    responses={
        200: {"model": AlertSubmitted, "description": "Merged into an existing alert"},
        413: ERROR_RESPONSES[413],
    },
)
async def submit_alert(
    body: AlertCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> AlertSubmitted:
    async with session.begin():
        result = await alerts.submit(session, data=body, settings=settings, now=now)
    if result.notifications:
        _wake_delivery(request)
    if result.outcome == "created":
        response.headers["Location"] = str(request.url_for("get_alert", alert_id=result.alert.id))
    else:
        response.status_code = status.HTTP_200_OK
    read = AlertRead.model_validate(result.alert)
    return AlertSubmitted(**read.model_dump(), outcome=result.outcome, notified=result.notified)


@router.get("", dependencies=[ReadAccess], response_model=AlertPage, summary="List alerts, newest first")
async def list_alerts(
    session: SessionDep,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    alert_type: Annotated[str | None, Query(max_length=200, pattern=NAME_PATTERN)] = None,
    source: Annotated[str | None, Query(max_length=200, pattern=NAME_PATTERN)] = None,
    since: Annotated[Moment | None, Query(description="first_seen_at >= since (ISO 8601)")] = None,
    until: Annotated[Moment | None, Query(description="first_seen_at < until (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> AlertPage:
    filters = alerts.AlertFilter(
        status=list(status_) if status_ else None,
        severity=list(severity) if severity else None,
        alert_type=alert_type,
        source=source,
        since=since,
        until=until,
    )
    async with session.begin():
        rows, next_cursor = await alerts.list_alerts(session, filters=filters, limit=limit, cursor=cursor)
    return AlertPage(items=[AlertRead.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get(
    "/{alert_id}",
    dependencies=[ReadAccess],
    response_model=AlertDetail,
    summary="One alert with its history and notifications",
    responses={404: ERROR_RESPONSES[404]},
)
async def get_alert(alert_id: uuid.UUID, session: SessionDep) -> AlertDetail:
    async with session.begin():
        alert = await alerts.get(session, alert_id)
        events = await alerts.history(session, alert_id)
        sent = await alerts.notifications(session, alert_id)
    read = AlertRead.model_validate(alert)
    return AlertDetail(
        **read.model_dump(),
        history=[AlertEventRead.model_validate(e) for e in events],
        notifications=[NotificationRead.model_validate(n) for n in sent],
    )


_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {404: ERROR_RESPONSES[404], 409: ERROR_RESPONSES[409]}


def _changed(request: Request, alert: Alert) -> AlertRead:
    _wake_delivery(request)
    return AlertRead.model_validate(alert)


@router.patch(
    "/{alert_id}/acknowledge",
    dependencies=[ManageAccess],
    response_model=AlertRead,
    summary="Acknowledge: stops escalation",
    responses=_CHANGE_RESPONSES,
)
async def acknowledge_alert(
    alert_id: uuid.UUID,
    body: AlertAcknowledge,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> AlertRead:
    async with session.begin():
        alert = await alerts.acknowledge(
            session, alert_id=alert_id, by=body.by, note=body.note, settings=settings, now=now
        )
    return _changed(request, alert)


@router.patch(
    "/{alert_id}/resolve",
    dependencies=[ManageAccess],
    response_model=AlertRead,
    summary="Resolve, recording who and how long it took",
    responses=_CHANGE_RESPONSES,
)
async def resolve_alert(
    alert_id: uuid.UUID,
    body: AlertResolve,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> AlertRead:
    async with session.begin():
        alert = await alerts.resolve(
            session,
            alert_id=alert_id,
            resolved_by=body.resolved_by,
            notes=body.notes,
            settings=settings,
            now=now,
        )
    return _changed(request, alert)


@router.patch(
    "/{alert_id}/status",
    dependencies=[ManageAccess],
    response_model=AlertRead,
    summary="Any allowed lifecycle move",
    responses=_CHANGE_RESPONSES,
)
async def change_alert_status(
    alert_id: uuid.UUID,
    body: AlertStatusChange,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> AlertRead:
    async with session.begin():
        alert = await alerts.change_status(
            session,
            alert_id=alert_id,
            status=body.status,
            by=body.by,
            note=body.note,
            settings=settings,
            now=now,
        )
    return _changed(request, alert)
