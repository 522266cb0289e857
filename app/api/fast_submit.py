"""POST /alerts on PostgreSQL, answered beneath the framework.

A burst of submissions is when the service must not fall over. On
PostgreSQL a submission is one statement (db/pg_ingest.py); what remains is
Python per request, and FastAPI's routing, dependency resolution and body
handling were the larger part of it (profiled under load). This ASGI layer
answers the common case itself: a caller the keys let in, a JSON body the
model accepts, a submission the one statement takes. It applies the same
rules, rate limit, answer, metrics and logs as the route in api/alerts.py.

Everything else goes on to that route unchanged, with the body replayed: no
key or a bad one, a body the model refuses, a recently ended alert to
reopen, a silence in force, SQLite. So every error keeps its one shape and
is made in one place. A caller let in here is remembered on the request, so
a replayed submission is not charged to the rate limit twice.
"""

from __future__ import annotations

import email.message

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.alerts import submitted
from app.api.auth import admit, caller_for, presented_key
from app.errors import AppError, app_error_response, unexpected_error_response
from app.metrics import ROUTE_TEMPLATE
from app.schemas import AlertCreate
from app.services import alerts
from app.settings import Settings

PATH = "/alerts"


class FastSubmit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        state = request.app.state
        settings: Settings = state.settings
        writer = getattr(state, "ingest_writer", None)
        headers = request.headers
        if writer is None or not settings.enable_deduplication or not _is_json(headers.get("content-type")):
            await self.app(scope, receive, send)
            return
        caller = caller_for(settings, presented_key(headers.get("authorization"), headers.get("x-api-key")))
        if caller is None or not caller.may("alerts:write"):
            await self.app(scope, receive, send)  # the route refuses, and logs why
            return
        try:
            body = await request.body()
        except ClientDisconnect:
            return  # the client went away, or the body limit has answered 413
        try:
            data = AlertCreate.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replaying(body, receive), send)  # the route's 422
            return
        scope[ROUTE_TEMPLATE] = PATH  # the request metrics' label
        try:
            admit(request, caller)
            fast = await alerts.submit_in_one_statement(
                writer, data=data, settings=settings, now=state.clock()
            )
        except AppError as exc:
            await app_error_response(exc)(scope, receive, send)
            return
        except Exception as exc:
            await unexpected_error_response(request, exc)(scope, receive, send)
            return
        if fast is None:
            await self.app(scope, _replaying(body, receive), send)  # the general path
            return
        response = submitted(request, fast.alert, fast.outcome, fast.notify_reason, woke=fast.queued > 0)
        await response(scope, receive, send)


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule for a JSON body: application/json or application/*+json.
    (Without a content type FastAPI's strict default refuses the body.)"""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read, then defers to the server's."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
