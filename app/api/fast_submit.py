"""POST /alerts, answered in front of the framework.

A burst of submissions is when the service must not fall over. On
PostgreSQL a submission is one statement (db/pg_store.py); what remains is
Python per request, and FastAPI's routing, dependency resolution and body
handling, then its and our middleware layers, were the larger part of it
(profiled under load). The application hands `POST /alerts` to this layer
before any of them (main.py), and it answers the common case itself: a body
within the size limit, a caller the keys let in, a JSON body the model
accepts. It is only a transport: the submission goes to the same service
function and store as the route's (api/alerts.py), with the same rate
limit, answer, request metrics and logs.

Everything else goes on to the whole application unchanged, with the body
replayed: no key or a bad one, no Content-Length or one over the limit, a
body the model refuses, a batch (an array of alerts: one request, whose
framework cost is shared by its alerts). So every error keeps its one shape and is made in
one place. A caller let in here is remembered on the request, so a replayed
submission is not charged to the rate limit twice.
"""

from __future__ import annotations

import email.message
import functools
import time

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.alerts import submitted
from app.api.auth import admit, caller_for, presented_key
from app.api.body_limit import declared_too_large
from app.api.errors import app_error_response, unexpected_error_response
from app.errors import AppError
from app.metrics import observe_request
from app.schemas import AlertCreate
from app.services import submit
from app.settings import Settings

PATH = "/alerts"


def handles(scope: Scope) -> bool:
    return bool(scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == PATH)


class FastSubmit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app  # the whole application, for everything this layer does not answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        state = request.app.state
        settings: Settings = state.settings
        headers = request.headers
        if not _is_json(headers.get("content-type")) or not _declared_within(
            headers.get("content-length"), settings.max_body_bytes
        ):
            await self.app(scope, receive, send)
            return
        caller = caller_for(settings, presented_key(headers.get("authorization"), headers.get("x-api-key")))
        if caller is None or not caller.may("alerts:write"):
            await self.app(scope, receive, send)  # the route refuses, and logs why
            return
        try:
            body = await request.body()
        except ClientDisconnect:
            return  # the client went away
        if body.lstrip()[:1] == b"[":  # a batch: the route's (api/batches.py)
            await self.app(scope, _replaying(body, receive), send)
            return
        try:
            data = AlertCreate.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replaying(body, receive), send)  # the route's 422
            return
        response: Response
        try:
            admit(request, caller)
            done = await submit.submit(
                state.store, data=data, team=caller.home_team, settings=settings, now=state.clock()
            )
        except AppError as exc:
            response = app_error_response(exc)
        except Exception as exc:
            response = unexpected_error_response(request, exc)
        else:
            response = submitted(request, done)
        await response(scope, receive, send)
        observe_request("POST", PATH, response.status_code, started)


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule for a JSON body: application/json or application/*+json.
    (Without a content type FastAPI's strict default refuses the body.)
    Parsed once per distinct header value: a client sends the same one every time."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _declared_within(content_length: str | None, max_bytes: int) -> bool:
    """A declared length the body limit accepts; without one (a chunked
    upload) the application's body limit counts the bytes instead."""
    return content_length is not None and not declared_too_large(content_length, max_bytes)


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
