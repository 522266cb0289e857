"""The console's silences page: the silences the caller sees, the form that
makes one, the preview of what it would hold, and the Expire button.

Thin, like the API's router: the form is read into the API's own
SilenceCreate and handed to the same service (silences.create, with its RE2
check and its limits), for the caller's team (Caller.silence_team), so a
silence made here is the one POST /silences would have made. A refusal
answers the page again, the form as typed, with each message beside the
field it names (the field names are the API's: `matchers.0.value`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import Caller
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.db import transaction
from app.errors import InvalidInput
from app.models import OutboxRow, Silence
from app.schemas import SilenceCreate, SilenceMatcher
from app.services import silence_limits, silence_preview, silences
from app.settings import Settings
from app.ui.alerts import ConsoleCaller
from app.ui.routing import ConsoleRoute, Form, read_form, see_other
from app.ui.session import require
from app.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=ConsoleRoute)

# The duration presets, in minutes, as the form offers them; "custom" reads `ends_at`.
DURATIONS: dict[str, str] = {"60": "1 h", "240": "4 h", "1440": "1 d"}
CUSTOM = "custom"
MATCHER_NAMES = ("alert_type", "source", "severity", "labels.")
EMPTY_ROWS = 2  # blank matcher rows under the filled ones
MIN_ROWS = 4
IN_FORCE_SHOWN = 500
EXPIRED_SHOWN = 20  # the most recently made of the expired ones
PREVIEW_SHOWN = 10
MAX_ROWS = 300  # rows read from a form: past SilenceCreate's 256, so too many is refused, not cut


@dataclass
class Draft:
    """The form as typed: what it shows again after a refusal."""

    matchers: list[dict[str, Any]] = field(default_factory=list)
    starts_at: str = ""
    duration: str = "60"
    ends_at: str = ""
    created_by: str = ""
    comment: str = ""

    @classmethod
    def from_form(cls, form: Form) -> Draft:
        """Matcher rows come as `matchers.<i>.name|value|is_regex`; a row
        with neither name nor value is skipped, the others are kept in
        order, so an error's `matchers.<n>` is the n-th row shown. A value
        is taken as typed (the API does not trim it either)."""
        rows = []
        for i in range(MAX_ROWS):
            name = form.get(f"matchers.{i}.name")
            value = next(iter(form.all(f"matchers.{i}.value")), "")
            if name or value:
                rows.append(
                    {"name": name, "value": value, "is_regex": bool(form.get(f"matchers.{i}.is_regex"))}
                )
        return cls(
            matchers=rows,
            starts_at=form.get("starts_at"),
            duration=form.get("duration") or "60",
            ends_at=form.get("ends_at"),
            created_by=form.get("created_by"),
            comment=form.get("comment"),
        )

    def rows(self, limit: int) -> list[dict[str, Any]]:
        """The rows to show: the filled ones, then blank ones to fill."""
        blank = {"name": "", "value": "", "is_regex": False}
        count = min(max(MIN_ROWS, len(self.matchers) + EMPTY_ROWS), max(limit, len(self.matchers)))
        return self.matchers + [dict(blank) for _ in range(count - len(self.matchers))]


Errors = dict[str, str]  # field -> message, in the order found


def _field_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "form"


def _refusals(exc: ValidationError) -> Errors:
    errors: Errors = {}
    for err in exc.errors():
        name = _field_of(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid value"))
        if name.startswith("matchers.") and name.endswith(".name"):
            message = "name a field: alert_type, source, severity or labels.<key>"
        errors.setdefault(name, message)
    return errors


def _instant(text: str, name: str, errors: Errors) -> datetime | None:
    """A time from the form: the browser's `YYYY-MM-DDTHH:MM`, read as UTC
    (the page shows UTC), or ISO 8601 with an offset."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors[name] = "not a date and time: use YYYY-MM-DD HH:MM (UTC) or ISO 8601 with an offset"
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _matchers(draft: Draft, settings: Settings) -> tuple[list[SilenceMatcher], Errors]:
    """The matchers as the API reads them, then its RE2 check and limits."""
    try:
        body = SilenceCreate.model_validate(
            {"matchers": draft.matchers, "created_by": "preview", "comment": "preview"}
        )
        silence_limits.check_matchers(body.matchers, settings)
    except ValidationError as exc:
        return [], _refusals(exc)
    except InvalidInput as exc:
        return [], {exc.field or "matchers": exc.message}
    return body.matchers, {}


def _body(draft: Draft, caller: Caller) -> tuple[SilenceCreate | None, Errors]:
    """The form as the API's request body, checked by the API's schema."""
    errors: Errors = {}
    data: dict[str, Any] = {
        "matchers": draft.matchers,
        "created_by": draft.created_by or caller.name,
        "comment": draft.comment,
        "starts_at": _instant(draft.starts_at, "starts_at", errors),
    }
    if draft.duration == CUSTOM:
        data["ends_at"] = _instant(draft.ends_at, "ends_at", errors)
        if not draft.ends_at:
            errors["ends_at"] = "give the end, or choose a duration"
    elif draft.duration in DURATIONS:
        data["duration_minutes"] = float(draft.duration)
    else:
        errors["duration"] = f"choose one of {', '.join(DURATIONS.values())} or a custom end"
    try:
        body = SilenceCreate.model_validate(data)
    except ValidationError as exc:
        return None, {**_refusals(exc), **errors}
    return (None, errors) if errors else (body, {})


def _may_expire(caller: Caller, silence: Silence, state: str) -> bool:
    """What services/silences.expire allows: a team's key ends its team's only."""
    return (
        caller.may("alerts:manage")
        and state != "expired"
        and not (caller.confined_to is not None and silence.team is None)
    )


async def _page(
    request: Request,
    caller: Caller,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    *,
    draft: Draft,
    errors: Errors,
    status_code: int = 200,
) -> HTMLResponse:
    async with session.begin():
        in_force = await silences.list_silences(
            session, states=["active", "pending"], team=caller.confined_to, now=now, limit=IN_FORCE_SHOWN
        )
        expired = await silences.list_silences(
            session, states=["expired"], team=caller.confined_to, now=now, limit=EXPIRED_SHOWN
        )
        preview = await _preview(session, caller, settings, draft)
    groups: dict[str, list[tuple[Silence, bool]]] = {"active": [], "pending": [], "expired": []}
    for silence in [*in_force, *expired]:
        state = silences.state(silence, now=now)
        groups[state].append((silence, _may_expire(caller, silence, state)))
    groups["pending"].sort(key=lambda pair: pair[0].starts_at)
    context = {
        "groups": groups,
        "draft": draft,
        "rows": draft.rows(settings.silence_max_matchers),
        "errors": errors,
        "durations": DURATIONS,
        "matcher_names": MATCHER_NAMES,
        "preview": preview,
        "now": now,
        "done": request.query_params.get("done"),
        "created": request.query_params.get("created"),
    }
    return await render(request, "silences.html", context, caller=caller, status_code=status_code)


async def _preview(session: AsyncSession, caller: Caller, settings: Settings, draft: Draft) -> dict[str, Any]:
    """The preview's context: what the matchers would hold now, or why not."""
    if not draft.matchers:
        return {"matchers": False, "errors": {}, "found": None}
    matchers, errors = _matchers(draft, settings)
    if errors:
        return {"matchers": True, "errors": errors, "found": None}
    found = await silence_preview.would_hold(
        session, matchers=matchers, team=caller.silence_team, show=PREVIEW_SHOWN
    )
    return {"matchers": True, "errors": {}, "found": found}


@router.get("/silences", response_class=HTMLResponse)
async def silence_page(
    request: Request,
    caller: ConsoleCaller,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    alert_type: str = "",
    source: str = "",
) -> HTMLResponse:
    """The list, and the form, prefilled from `alert_type` and `source`
    (the alert page's "Silence alerts like this one")."""
    prefill = [
        {"name": name, "value": value[:1000], "is_regex": False}
        for name, value in (("alert_type", alert_type.strip()), ("source", source.strip()))
        if value.strip()
    ]
    draft = Draft(matchers=prefill, created_by="")
    return await _page(request, caller, session, settings, now, draft=draft, errors={})


@router.post("/silences/preview", response_class=HTMLResponse)
async def silence_preview_fragment(
    request: Request, caller: ConsoleCaller, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """The preview, for htmx as the form changes; always 200, so it is shown."""
    form = await read_form(request)
    draft = Draft.from_form(form)
    async with session.begin():
        preview = await _preview(session, caller, settings, draft)
    return await render(request, "silence_preview.html", {"preview": preview}, caller=caller)


@router.post("/silences", response_class=HTMLResponse)
async def create_silence(
    request: Request, caller: ConsoleCaller, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    form = await read_form(request)
    require(caller, "alerts:manage")
    draft = Draft.from_form(form)
    body, errors = _body(draft, caller)
    if body is not None:

        async def work(session: AsyncSession) -> Silence:
            return await silences.create(
                session, data=body, team=caller.silence_team, settings=settings, now=now
            )

        try:
            silence = await transaction.run(request.app.state.sessionmaker, work)
        except InvalidInput as exc:  # the service's limits: RE2, sizes, room
            errors = {exc.field or "matchers": exc.message}
        else:
            return see_other(f"/ui/silences?created={silence.id}#{silence.id}")
    return await _page(request, caller, session, settings, now, draft=draft, errors=errors, status_code=422)


@router.post("/silences/{silence_id}/expire")
async def expire_silence(
    silence_id: uuid.UUID, request: Request, caller: ConsoleCaller, settings: SettingsDep, now: NowDep
) -> RedirectResponse:
    await read_form(request)
    require(caller, "alerts:manage")

    async def work(session: AsyncSession) -> tuple[Silence, list[OutboxRow]]:
        return await silences.expire(
            session, silence_id=silence_id, team=caller.confined_to, settings=settings, now=now
        )

    _, rows = await transaction.run(request.app.state.sessionmaker, work)
    if rows:
        request.app.state.wake_delivery()
    return see_other(f"/ui/silences?done=expired#{silence_id}")
