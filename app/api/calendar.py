"""The calendar feeds of a schedule and of a user (services/oncall/calendar.py):
a link to make, and the feed itself, which calendar apps fetch with the
link's token and no API key.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, Caller, OncallCaller, ReadCaller, admit
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.db.secrets import shared_secret
from app.models import OncallSchedule, User
from app.services.oncall import calendar, schedules, users
from app.settings import ALL_TEAMS

router = APIRouter(prefix="/schedules", tags=["on call"])
users_router = APIRouter(prefix="/users", tags=["on call"])

ScheduleId = Annotated[uuid.UUID, Path(description="The schedule's id")]
UserId = Annotated[uuid.UUID, Path(description="The user's id")]
Token = Annotated[str, Query(min_length=1, max_length=500, description="The link's token")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: ERROR_RESPONSES[404],
    422: ERROR_RESPONSES[422],
    503: ERROR_RESPONSES[503],
}


class CalendarLink(BaseModel):
    url: str = Field(description="The feed, with its token: anyone holding it reads the schedule's shifts.")


async def _secret(request: Request) -> str:
    found: str | None = getattr(request.app.state, "calendar_secret", None)
    if found is None:
        found = await shared_secret(request.app.state.sessionmaker, "calendar_feed")
        request.app.state.calendar_secret = found
    return found


def _link(request: Request, public_url: str, schedule: OncallSchedule, secret: str) -> CalendarLink:
    path = request.app.url_path_for("calendar_feed", schedule_id=str(schedule.id))
    return CalendarLink(url=f"{public_url.rstrip('/')}{path}?token={calendar.token(secret, schedule)}")


@router.post(
    "/{schedule_id}/calendar-link",
    response_model=CalendarLink,
    summary="Make a calendar link (revoking the one before)",
    description="A subscription URL for calendar apps, under `public_url`. Making a new one revokes "
    "every link made before for this schedule.",
    responses={**AUTH_RESPONSES, **ERRORS},
)
async def make_calendar_link(
    schedule_id: ScheduleId, request: Request, caller: OncallCaller, settings: SettingsDep
) -> CalendarLink:
    async def work(session: AsyncSession) -> OncallSchedule:
        return await calendar.new_link_key(session, schedule_id=schedule_id, team=caller.confined_to)

    schedule = await transaction.run(request.app.state.sessionmaker, work)
    return _link(request, settings.public_url, schedule, await _secret(request))


@router.get(
    "/{schedule_id}/calendar-link",
    response_model=CalendarLink,
    summary="The schedule's calendar link",
    description="404 until one is made (POST).",
    responses={**AUTH_RESPONSES, **ERRORS},
)
async def get_calendar_link(
    schedule_id: ScheduleId, request: Request, caller: ReadCaller, session: SessionDep, settings: SettingsDep
) -> CalendarLink:
    async with session.begin():
        schedule = await schedules.get(session, schedule_id=schedule_id, team=caller.confined_to)
    return _link(request, settings.public_url, schedule, await _secret(request))


@router.get(
    "/{schedule_id}/calendar.ics",
    name="calendar_feed",
    summary="The schedule's shifts as iCalendar (text/calendar)",
    description="For calendar apps: the `token` of a calendar link is the credential, no API key; "
    "each link has its own rate limit. "
    "Shifts from a week ago to twelve weeks ahead, one event each, in UTC.",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "An iCalendar feed"},
        429: ERROR_RESPONSES[429],
        **ERRORS,
    },
)
async def calendar_feed(
    schedule_id: ScheduleId,
    request: Request,
    session: SessionDep,
    now: NowDep,
    token: Token,
) -> Response:
    secret = await _secret(request)
    async with session.begin():
        schedule = await calendar.verified(session, schedule_id=schedule_id, token=token, secret=secret)
        # The link is the caller: its own rate-limit bucket and access line.
        admit(request, Caller(f"calendar-link:{schedule.team}/{schedule.name}", frozenset(), schedule.team))
        body = await calendar.feed(session, schedule=schedule, now=now)
    return _ics(body)


def _ics(body: bytes) -> Response:
    return Response(
        body, media_type="text/calendar; charset=utf-8", headers={"Cache-Control": "private, max-age=300"}
    )


def _user_link(request: Request, public_url: str, user: User, team: str | None, secret: str) -> CalendarLink:
    path = request.app.url_path_for("user_calendar_feed", user_id=str(user.id))
    return CalendarLink(
        url=f"{public_url.rstrip('/')}{path}?token={calendar.user_token(secret, user, team=team)}"
    )


@users_router.post(
    "/{user_id}/calendar-link",
    response_model=CalendarLink,
    summary="Make a user's calendar link (revoking the ones before)",
    description="A subscription URL for calendar apps, under `public_url`: the user's shifts in every "
    "schedule of the key's team (of all the user's teams for a key of every team). Making a new one "
    "revokes every link made before for this user.",
    responses={**AUTH_RESPONSES, **ERRORS},
)
async def make_user_calendar_link(
    user_id: UserId, request: Request, caller: OncallCaller, settings: SettingsDep
) -> CalendarLink:
    async def work(session: AsyncSession) -> User:
        return await calendar.new_user_link_key(session, user_id=user_id, team=caller.confined_to)

    user = await transaction.run(request.app.state.sessionmaker, work)
    return _user_link(request, settings.public_url, user, caller.confined_to, await _secret(request))


@users_router.get(
    "/{user_id}/calendar-link",
    response_model=CalendarLink,
    summary="The user's calendar link",
    description="For the key's team (every team of the user for a key of every team); 404 until one is "
    "made (POST).",
    responses={**AUTH_RESPONSES, **ERRORS},
)
async def get_user_calendar_link(
    user_id: UserId, request: Request, caller: ReadCaller, session: SessionDep, settings: SettingsDep
) -> CalendarLink:
    async with session.begin():
        user = await users.get(session, user_id=user_id, team=caller.confined_to)
    return _user_link(request, settings.public_url, user, caller.confined_to, await _secret(request))


@users_router.get(
    "/{user_id}/calendar.ics",
    name="user_calendar_feed",
    summary="The user's shifts as iCalendar (text/calendar)",
    description="For calendar apps: the `token` of a user's calendar link is the credential, no API key; "
    "each user's links share a rate limit. The user's shifts in the schedules of the link's team (or of "
    "all their teams), from a week ago to twelve weeks ahead, one event each, in UTC.",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "An iCalendar feed"},
        429: ERROR_RESPONSES[429],
        **ERRORS,
    },
)
async def user_calendar_feed(
    user_id: UserId, request: Request, session: SessionDep, now: NowDep, token: Token
) -> Response:
    secret = await _secret(request)
    async with session.begin():
        user, team = await calendar.verified_user(session, user_id=user_id, token=token, secret=secret)
        admit(request, Caller(f"calendar-link:user/{user.name}", frozenset(), team or ALL_TEAMS))
        body = await calendar.user_feed(session, user=user, team=team, now=now)
    return _ics(body)
