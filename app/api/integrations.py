"""Endpoints that speak other tools' formats: Alertmanager, PagerDuty and
Amazon SNS (CloudWatch alarms).

Each request is one transaction of its own, run again once when its
connection was lost before COMMIT (db/transaction.py): an Alertmanager
notification through the batch path (services/batch.py), a PagerDuty event
directly.

SNS cannot send headers, so its route also takes the key as the password of
HTTP basic auth (in the subscription URL), and reads its JSON body whatever
the content type (SNS says text/plain).

The PagerDuty route answers errors in PagerDuty's own shape (400 with
`errors[]`), not the service's, because its callers are PagerDuty clients:
its route class turns request validation errors into that shape.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import ValidationError

from app.api.auth import (
    ANONYMOUS,
    AUTH_RESPONSES,
    Unauthorized,
    WriteCaller,
    _bearer,
    _header,
    gate,
    presented_key,
)
from app.api.deps import NowDep, SessionmakerDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.errors import AppError, Forbidden, InvalidInput
from app.integrations import alertmanager as am
from app.integrations import pagerduty as pd
from app.integrations import sns
from app.schemas import ErrorBody
from app.services import integrations
from app.services import sns as sns_service

router = APIRouter(prefix="/integrations", tags=["integrations"], responses=AUTH_RESPONSES)


@router.post(
    "/alertmanager",
    response_model=am.AlertmanagerReceipt,
    summary="Alertmanager webhook receiver",
    description=(
        "Point an Alertmanager `webhook_configs` receiver here (Grafana's webhook contact point "
        "works too). Each firing alert is submitted, deduplicated on its Alertmanager "
        "fingerprint; each resolved one resolves the matching alert (resolved_by "
        "`alertmanager`). The whole notification is one transaction, applied in order, as a "
        "batch of `POST /alerts` is; at most `max_batch_alerts` alerts (1,000 unless configured). "
        "Answers 200 with one result per alert; an alert that cannot be "
        "mapped is `rejected` without failing the others. `channels` in the query string "
        "picks the channels, else the configured defaults."
    ),
    responses={422: ERROR_RESPONSES[422], 413: ERROR_RESPONSES[413], 503: ERROR_RESPONSES[503]},
)
async def alertmanager_webhook(
    hook: am.AlertmanagerWebhook,
    request: Request,
    caller: WriteCaller,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    now: NowDep,
    channels: Annotated[list[str] | None, Query(description="Channel names to notify")] = None,
) -> am.AlertmanagerReceipt:
    chosen = integrations.check_channels(channels, settings)
    if len(hook.alerts) > settings.max_batch_alerts:
        raise InvalidInput(
            f"one notification holds at most {settings.max_batch_alerts} alerts (max_batch_alerts); "
            f"this one has {len(hook.alerts)}",
            field="alerts",
        )
    results, _ = await integrations.apply_alertmanager(
        sessionmaker,
        hook=hook,
        channels=chosen,
        team=caller.home_team,
        settings=settings,
        now=now,
        fast=request.app.state.batch_fast_path,
    )
    request.app.state.wake_delivery()
    return am.AlertmanagerReceipt(
        received=len(hook.alerts), truncated_alerts=hook.truncatedAlerts, results=results
    )


def _invalid(errors: list[str]) -> JSONResponse:
    return JSONResponse(pd.PagerDutyInvalid(errors=errors).model_dump(), status_code=400)


class PagerDutyRoute(APIRoute):
    """Answers bad events as PagerDuty does: 400 with `errors[]`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _invalid(pd.describe(list(exc.errors())))
            except pd.InvalidEvent as exc:
                return _invalid(exc.errors)

        return handle


pagerduty = APIRouter(route_class=PagerDutyRoute)

_PD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": pd.PagerDutyInvalid, "description": "Invalid event, in PagerDuty's shape"},
    413: ERROR_RESPONSES[413],
    422: {"description": "Not used: invalid events are answered with 400"},
    503: ERROR_RESPONSES[503],
}


@pagerduty.post(
    "/pagerduty/v2/enqueue",
    response_model=pd.PagerDutyAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="PagerDuty Events API v2",
    description=(
        "Accepts PagerDuty Events API v2 events (`trigger`, `acknowledge`, `resolve`) and "
        "answers as PagerDuty does. A trigger without `dedup_key` gets a new one back. The "
        "`routing_key` must be a configured API key with `alerts:write`, unless no keys are "
        "configured (open mode)."
    ),
    responses=_PD_RESPONSES,
)
async def pagerduty_enqueue(
    event: pd.PagerDutyEvent,
    request: Request,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    now: NowDep,
) -> pd.PagerDutyAccepted:
    # The key is the event's routing_key; it passes the same gate as a header's.
    try:
        caller = gate(request, event.routing_key, "alerts:write")
    except Unauthorized as exc:
        raise pd.InvalidEvent(["Invalid routing key"]) from exc
    except Forbidden as exc:
        raise pd.InvalidEvent(["Routing key lacks the alerts:write scope"]) from exc
    # Its own transaction, run again once if its connection was lost
    # before COMMIT (db/transaction.py): the event is then applied once.
    dedup_key = await transaction.run(
        sessionmaker,
        lambda session: integrations.apply_pagerduty(
            session,
            event=event,
            team=caller.home_team,
            key_name=None if caller.name == ANONYMOUS else caller.name,
            settings=settings,
            now=now,
        ),
    )
    request.app.state.wake_delivery()
    return pd.PagerDutyAccepted(dedup_key=dedup_key)


router.include_router(pagerduty)


# --- Amazon SNS ---------------------------------------------------------------------


class _BasicScheme(HTTPBasic):
    """Declares basic auth in the spec; the key is read by sns_key, so that a
    malformed credential is our 401 in our error shape."""

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        return None


_basic = _BasicScheme(auto_error=False, description="SNS only: the key as the password")


def sns_key(authorization: str | None, api_key: str | None) -> str | None:
    """The key as the password of basic auth, else as the usual headers carry it."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return presented_key(authorization, api_key)
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""  # a credential that is no key: unknown, never the raw text
    return decoded.partition(":")[2]


_SNS_SCHEMA = sns.SnsMessage.model_json_schema()


@router.post(
    "/sns",
    response_model=sns.SnsReceipt,
    summary="Amazon SNS (CloudWatch alarms)",
    description=(
        "Subscribe this URL (HTTP/HTTPS protocol) to an SNS topic, with the key as the password "
        "of basic auth: `https://x:<key>@alerts.example.com/integrations/sns`. Every message's "
        "signature is verified (its certificate fetched only from an SNS endpoint); messages over "
        "an hour old are refused. A subscription is confirmed only for a topic configured for the "
        "key's team (`sns_topics`). A CloudWatch alarm in ALARM is submitted, deduplicated on its "
        "ARN; OK resolves it (resolved_by `cloudwatch`); INSUFFICIENT_DATA goes to its history. "
        "Any other notification becomes an alert named by its Subject."
    ),
    dependencies=[Depends(_bearer), Depends(_header), Depends(_basic)],
    responses={
        400: {"model": ErrorBody, "description": "Not an SNS message, or one missing a signed field"},
        403: {"model": ErrorBody, "description": "Bad signature, stale, untrusted host or topic, or scope"},
        413: ERROR_RESPONSES[413],
        422: {"model": ErrorBody, "description": "The notification maps to no valid alert"},
        503: {"model": ErrorBody, "description": "Database, certificate or SNS unreachable"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _SNS_SCHEMA}, "text/plain": {"schema": _SNS_SCHEMA}},
        }
    },
)
async def sns_message(
    request: Request, sessionmaker: SessionmakerDep, settings: SettingsDep, now: NowDep
) -> sns.SnsReceipt:
    headers = request.headers
    caller = gate(request, sns_key(headers.get("authorization"), headers.get("x-api-key")), "alerts:write")
    try:
        message = sns.SnsMessage.model_validate_json(await request.body())
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AppError(
            f"not an SNS message: {where + ': ' if where else ''}{err['msg']}", field=where or None
        ) from None
    state = request.app.state
    await sns_service.authenticate(
        message, certificates=state.sns_certificates, client=state.http_client, settings=settings, now=now
    )
    team = caller.home_team
    if message.Type == "UnsubscribeConfirmation":
        return sns.SnsReceipt(type=message.Type, outcome="unsubscribed")
    sns_service.check_topic(message, team=team, settings=settings)
    if message.Type == "SubscriptionConfirmation":
        await sns_service.confirm(message, client=state.http_client, settings=settings)
        return sns.SnsReceipt(type=message.Type, outcome="confirmed")
    applied = await transaction.run(
        sessionmaker,
        lambda session: sns_service.apply_notification(
            session, message=message, team=team, settings=settings, now=now
        ),
    )
    state.wake_delivery()
    return sns.SnsReceipt(type=message.Type, outcome=applied.outcome, alert_id=applied.alert_id)
