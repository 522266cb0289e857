"""The console's alert pages: the live list, one alert, and the moves.

Thin, like the API's routers: read the query or the form, call the same
services the API calls (queries, lifecycle, silence_match), render. The
caller's team confines every read and move exactly as on the API.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.alerts import move
from app.api.auth import Caller, team_to_read
from app.api.deps import NowDep, SessionmakerDep, SettingsDep
from app.db import transaction
from app.errors import AppError, InvalidInput
from app.models import ACTIVE_STATUSES, STATUSES, Alert, AlertEvent, OutboxRow
from app.schemas import NAME_PATTERN
from app.services import lifecycle, queries, silence_match
from app.services.queries import AlertCounts
from app.settings import SEVERITIES
from app.ui.live import ChangeWatcher
from app.ui.routing import ConsoleRoute, read_form, see_other
from app.ui.session import console_caller, require
from app.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=ConsoleRoute)
ConsoleCaller = Annotated[Caller, Depends(console_caller)]

PAGE_SIZE = 100
# The moves offered on an alert's page, in the order shown, with their buttons.
MOVES: dict[str, str] = {
    "acknowledged": "Acknowledge",
    "in_progress": "In progress",
    "resolved": "Resolve",
    "closed": "Close",
    "reopened": "Reopen",
}
BULK_MOVES = ("acknowledged", "resolved")
FILTER_NAMES = ("status", "severity", "team", "alert_type", "source", "label", "q")
_NAME = re.compile(NAME_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _filters(request: Request, caller: Caller) -> tuple[queries.AlertFilter, dict[str, str]]:
    """The list's filters from the query string, and the same as the form
    shows them. Bad values are refused naming the field (InvalidInput)."""
    params = request.query_params
    shown = {name: params.get(name, "").strip() for name in FILTER_NAMES}
    status = shown["status"] or "active"
    shown["status"] = status
    if status not in ("active", "any", *STATUSES):
        raise InvalidInput(f"unknown status {status[:40]!r}", field="status")
    if shown["severity"] and shown["severity"] not in SEVERITIES:
        raise InvalidInput(f"unknown severity {shown['severity'][:40]!r}", field="severity")
    for name in ("alert_type", "source"):
        if shown[name] and not (len(shown[name]) <= 200 and _NAME.match(shown[name])):
            raise InvalidInput(f"{name} is not a name this service stores", field=name)
    labels = None
    if shown["label"]:
        key, sep, value = shown["label"].partition("=")
        if not sep or not key:
            raise InvalidInput("label filter is not key=value", field="label")
        labels = {key: value}
    if shown["q"] and (len(shown["q"]) > 200 or _CONTROL.search(shown["q"])):
        raise InvalidInput("text filter is too long or holds control characters", field="q")
    filters = queries.AlertFilter(
        team=team_to_read(caller, shown["team"] or None),
        status=list(ACTIVE_STATUSES) if status == "active" else None if status == "any" else [status],
        severity=[shown["severity"]] if shown["severity"] else None,
        alert_type=shown["alert_type"] or None,
        source=shown["source"] or None,
        labels=labels,
        text=shown["q"] or None,
    )
    return filters, shown


async def _list_context(
    request: Request, caller: Caller, sessionmaker: SessionmakerDep, now: NowDep
) -> dict[str, object]:
    filters, shown = _filters(request, caller)
    cursor = request.query_params.get("cursor") or None

    async def read(
        session: AsyncSession,
    ) -> tuple[list[Alert], str | None, list[list[uuid.UUID]], AlertCounts]:
        rows, next_cursor = await queries.list_alerts(
            session, filters=filters, limit=PAGE_SIZE, cursor=cursor
        )
        matched = await silence_match.silenced_by(session, rows, now)
        counted = await queries.counts(session, team=filters.team)
        session.expunge_all()  # the rows outlive the read's rollback, loaded as they are
        return rows, next_cursor, matched, counted

    rows, next_cursor, matched, counted = await transaction.read(sessionmaker, read)
    query = {k: v for k, v in shown.items() if v}
    return {
        "alerts": list(zip(rows, matched, strict=True)),
        "counts": counted,
        "filters": shown,
        "query": urlencode(query),
        "next_page": urlencode({**query, "cursor": next_cursor}) if next_cursor else None,
        "now": now,
        "statuses": STATUSES,
        "bulk_moves": {m: MOVES[m] for m in BULK_MOVES},
    }


@router.get("/", response_class=HTMLResponse)
async def alert_list(
    request: Request, caller: ConsoleCaller, sessionmaker: SessionmakerDep, now: NowDep
) -> HTMLResponse:
    context = await _list_context(request, caller, sessionmaker, now)
    done = request.query_params.get("done")
    return await render(request, "alerts.html", {**context, "done": done}, caller=caller)


@router.get("/alerts/rows", response_class=HTMLResponse)
async def alert_rows(
    request: Request, caller: ConsoleCaller, sessionmaker: SessionmakerDep, now: NowDep
) -> HTMLResponse:
    """The list's rows and counts, for the live refresh."""
    context = await _list_context(request, caller, sessionmaker, now)
    return await render(request, "alert_rows.html", context, caller=caller)


@router.get("/events")
async def alert_events(request: Request, caller: ConsoleCaller) -> StreamingResponse:
    watcher: ChangeWatcher = request.app.state.console_watcher
    last = request.headers.get("last-event-id", "")
    return StreamingResponse(
        watcher.stream(request, int(last) if last.isdigit() else None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_page(
    alert_id: uuid.UUID, request: Request, caller: ConsoleCaller, sessionmaker: SessionmakerDep, now: NowDep
) -> HTMLResponse:
    async def read(session: AsyncSession) -> tuple[Alert, list[AlertEvent], list[OutboxRow], list[uuid.UUID]]:
        alert = await queries.get(session, alert_id, team=caller.confined_to)
        events = await queries.history(session, alert_id)
        sent = await queries.notifications(session, alert_id)
        [silenced_by] = await silence_match.silenced_by(session, [alert], now)
        session.expunge_all()  # as above
        return alert, events, sent, silenced_by

    alert, events, sent, silenced_by = await transaction.read(sessionmaker, read)
    moves = (
        {m: label for m, label in MOVES.items() if m in lifecycle.ALLOWED_MOVES.get(alert.status, ())}
        if caller.may("alerts:manage")
        else {}
    )
    return await render(
        request,
        "alert.html",
        {
            "alert": alert,
            "events": events,
            "notifications": sent,
            "silenced_by": silenced_by,
            "moves": moves,
            "now": now,
            "done": request.query_params.get("done"),
        },
        caller=caller,
    )


def _by(form_by: str, caller: Caller) -> str:
    """Who made the move: the name typed in the form, else the key's name."""
    return (form_by or caller.name)[:200]


@router.post("/alerts/{alert_id}/move")
async def move_alert(
    alert_id: uuid.UUID,
    request: Request,
    caller: ConsoleCaller,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    now: NowDep,
) -> RedirectResponse:
    form = await read_form(request)
    require(caller, "alerts:manage")
    status = form.get("status")
    if status not in MOVES:
        raise InvalidInput(f"unknown move {status[:40]!r}", field="status")
    await move(
        sessionmaker,
        caller=caller,
        alert_id=alert_id,
        status=status,
        by=_by(form.get("by"), caller),
        note=form.get("note")[:10_000] or None,
        settings=settings,
        now=now,
    )
    request.app.state.wake_delivery()
    return see_other(f"/ui/alerts/{alert_id}?done={status}")


@router.post("/alerts/bulk")
async def move_alerts(
    request: Request,
    caller: ConsoleCaller,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    now: NowDep,
) -> RedirectResponse:
    """Acknowledge or resolve every selected alert, each in its own
    transaction: one that moved meanwhile (409) does not stop the others."""
    form = await read_form(request)
    require(caller, "alerts:manage")
    status = form.get("status")
    if status not in BULK_MOVES:
        raise InvalidInput(f"unknown bulk move {status[:40]!r}", field="status")
    try:
        ids = [uuid.UUID(value) for value in form.all("ids")[:500]]
    except ValueError as exc:
        raise InvalidInput("a selected alert id is not a UUID", field="ids") from exc
    moved = failed = 0
    for alert_id in ids:
        try:
            await move(
                sessionmaker,
                caller=caller,
                alert_id=alert_id,
                status=status,
                by=_by(form.get("by"), caller),
                note=None,
                settings=settings,
                now=now,
            )
            moved += 1
        except AppError:  # moved or gone meanwhile; counted, shown, not fatal
            failed += 1
    if moved:
        request.app.state.wake_delivery()
    # Back to the list as it was filtered: only the filters' own names pass.
    back = {k: v[0] for k, v in parse_qs(form.get("back")).items() if k in FILTER_NAMES}
    return see_other("/ui/?" + urlencode({**back, "done": f"{status}:{moved}:{failed}"}))
