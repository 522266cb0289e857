"""The page behind an email's acknowledge and resolve links: /actions/{token}.

GET shows the alert and a form, and changes nothing: mail scanners and link
previews follow GET links. POST makes the token's move through the API's
one `move` (its transaction, retry, metrics and log line), by
`email:<the channel's recipients>`, and its history event records that it
came through an email link. The token is read by services/action_links.py.

The token in the path is the credential, so there is no sign-in and no CSRF
token: a form on another site could only post a token its author already
holds, and with it they could post directly. Errors are pages
(ConsoleRoute): a forged or altered token 403, an expired one 410, an alert
that is gone 404, and an alert that moved meanwhile 409, saying what it is
now. The page sends no Referer anywhere and the access line leaves the
token out, its URL being the credential.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.alerts import move
from app.api.auth import Caller, admit
from app.api.deps import NowDep, SessionmakerDep, SettingsDep
from app.db import transaction
from app.errors import Conflict, InvalidInput
from app.models import Alert
from app.schemas import MAX_MESSAGE_CHARS, Note
from app.services import queries
from app.services.action_links import LABELS, ActionClaim, ActionLinks, check
from app.settings import ALL_TEAMS
from app.ui.routing import ConsoleRoute, Form
from app.ui.templating import render

router = APIRouter(prefix="/actions", include_in_schema=False, route_class=ConsoleRoute)

_NOTE: TypeAdapter[str] = TypeAdapter(Note)


def _caller(claim: ActionClaim) -> Caller:
    """Whom a link acts as: its channel, on its one alert whatever the team."""
    return Caller(f"email link:{claim.channel}", frozenset({"alerts:manage"}), ALL_TEAMS)


async def _claim(request: Request, token: str, now: datetime) -> ActionClaim:
    links: ActionLinks = request.app.state.action_links
    claim = await links.read(token, now=now)
    # The link's own rate limit and access line; the line leaves the token out.
    admit(request, _caller(claim), logged_path="/actions/{token}")
    return claim


async def _alert(sessionmaker: async_sessionmaker[AsyncSession], claim: ActionClaim) -> Alert:
    async def read(session: AsyncSession) -> Alert:
        alert = await queries.get(session, claim.alert_id, team=None)
        session.expunge_all()  # the row outlives the read's rollback, loaded as it is
        return alert

    return await transaction.read(sessionmaker, read)


async def _page(
    request: Request, claim: ActionClaim, alert: Alert, *, state: str, message: str = "", status: int = 200
) -> HTMLResponse:
    response = await render(
        request,
        "action.html",
        {
            "alert": alert,
            "action": LABELS[claim.action],
            "by": claim.by,
            "state": state,  # confirm, done or conflict
            "message": message,
            "max_note": MAX_MESSAGE_CHARS,
        },
        caller=None,
        status_code=status,
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def _note(request: Request) -> str:
    """The form's note, held to the API's rule for notes (a browser sends
    its line breaks as CRLF, which that rule does not take)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        form = Form(parse_qs(body, keep_blank_values=True, max_num_fields=20))
    except ValueError as exc:  # more fields than this form has
        raise InvalidInput("the form has too many fields", field="note") from exc
    note = form.get("note").replace("\r\n", "\n")
    try:
        return _NOTE.validate_python(note)
    except ValidationError as exc:
        raise InvalidInput(
            f"the note is longer than {MAX_MESSAGE_CHARS} characters or holds control characters",
            field="note",
        ) from exc


@router.get("/{token}", response_class=HTMLResponse)
async def action_page(
    token: str, request: Request, sessionmaker: SessionmakerDep, now: NowDep
) -> HTMLResponse:
    claim = await _claim(request, token, now)
    alert = await _alert(sessionmaker, claim)
    try:
        check(claim, alert)
    except Conflict as exc:
        return await _page(request, claim, alert, state="conflict", message=exc.message, status=409)
    return await _page(request, claim, alert, state="confirm")


@router.post("/{token}", response_class=HTMLResponse)
async def action_confirm(
    token: str,
    request: Request,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    now: NowDep,
) -> HTMLResponse:
    claim = await _claim(request, token, now)
    note = await _note(request)
    alert = await _alert(sessionmaker, claim)
    try:
        check(claim, alert)
        alert, _ = await move(
            sessionmaker,
            caller=_caller(claim),
            alert_id=claim.alert_id,
            status=claim.status,
            by=claim.by,
            note=note or None,
            settings=settings,
            now=now,
            origin=claim.origin,
        )
    except Conflict as moved:
        # Moved by someone else, before the read or since: said in the
        # link's words when the alert as it is now explains it.
        alert, message = await _alert(sessionmaker, claim), moved.message
        try:
            check(claim, alert)
        except Conflict as refused:
            message = refused.message
        return await _page(request, claim, alert, state="conflict", message=message, status=409)
    request.app.state.wake_delivery()
    return await _page(request, claim, alert, state="done")
