"""Schedule routes: schedules with their layers inline, overrides, who is
on call now or at an instant, and the shifts of a range
(services/oncall/schedules.py; the computation is services/oncall/shifts.py).

`read` looks, `oncall:manage` changes. A key of one team sees and manages
its team's schedules; another team's schedule is a 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, OncallCaller, ReadCaller, team_to_read
from app.api.deps import NowDep, SessionDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.models import OncallSchedule
from app.oncall_schemas import (
    OnCallRead,
    OverrideCreate,
    OverrideRead,
    ScheduleCreate,
    ScheduleMoment,
    ScheduleRead,
    ScheduleUpdate,
    ShiftList,
)
from app.services.oncall import schedules

router = APIRouter(
    prefix="/schedules",
    tags=["on call"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)

ScheduleId = Annotated[uuid.UUID, Path(description="The schedule's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: ERROR_RESPONSES[404]}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {**ERROR_RESPONSES[409], "description": "The team has a schedule of that name"}
}
DEFAULT_SHIFTS_RANGE = timedelta(days=7)
From = Annotated[ScheduleMoment | None, Query(alias="from", description="ISO 8601 with a zone; default: now")]


@router.post(
    "",
    response_model=ScheduleRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a schedule",
    description="A schedule of the key's team (a key of every team may name `team`), with its rotation "
    "layers inline, bottom first: the last layer wins wherever it has someone. Participants are user "
    "ids of members of the team.",
    responses={**CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def create_schedule(
    body: ScheduleCreate, request: Request, response: Response, caller: OncallCaller, now: NowDep
) -> ScheduleRead:
    async def work(session: AsyncSession) -> ScheduleRead:
        made = await schedules.create(
            session, data=body, team=caller.confined_to, home_team=caller.home_team, now=now
        )
        return schedules.read(made)

    made = await transaction.run(request.app.state.sessionmaker, work)
    response.headers["Location"] = str(request.url_for("get_schedule", schedule_id=made.id))
    return made


@router.get("", response_model=list[ScheduleRead], summary="List schedules, by team and name")
async def list_schedules(
    caller: ReadCaller,
    session: SessionDep,
    team: Annotated[
        str | None, Query(max_length=64, description="one team's schedules (a key of one team reads its own)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[ScheduleRead]:
    async with session.begin():
        rows = await schedules.list_schedules(session, team=team_to_read(caller, team), limit=limit)
        return [schedules.read(row) for row in rows]


@router.get("/{schedule_id}", response_model=ScheduleRead, summary="One schedule", responses=NOT_FOUND)
async def get_schedule(schedule_id: ScheduleId, caller: ReadCaller, session: SessionDep) -> ScheduleRead:
    async with session.begin():
        found: OncallSchedule = await schedules.get(session, schedule_id=schedule_id, team=caller.confined_to)
        return schedules.read(found)


@router.patch(
    "/{schedule_id}",
    response_model=ScheduleRead,
    summary="Change a schedule",
    description="A field given replaces the stored one (`layers`: all of them); a field left out keeps it.",
    responses={**NOT_FOUND, **CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def update_schedule(
    schedule_id: ScheduleId, body: ScheduleUpdate, request: Request, caller: OncallCaller, now: NowDep
) -> ScheduleRead:
    async def work(session: AsyncSession) -> ScheduleRead:
        changed = await schedules.update(
            session, schedule_id=schedule_id, data=body, team=caller.confined_to, now=now
        )
        return schedules.read(changed)

    return await transaction.run(request.app.state.sessionmaker, work)


@router.delete(
    "/{schedule_id}",
    response_model=ScheduleRead,
    summary="Delete a schedule and its overrides",
    responses=NOT_FOUND,
)
async def delete_schedule(schedule_id: ScheduleId, request: Request, caller: OncallCaller) -> ScheduleRead:
    async def work(session: AsyncSession) -> ScheduleRead:
        return await schedules.delete_schedule(session, schedule_id=schedule_id, team=caller.confined_to)

    return await transaction.run(request.app.state.sessionmaker, work)


@router.post(
    "/{schedule_id}/overrides",
    response_model=OverrideRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add an override: a user covers from start to end",
    description="Wins over every layer; of two overlapping overrides the later made wins.",
    responses={**NOT_FOUND, 413: ERROR_RESPONSES[413]},
)
async def add_override(
    schedule_id: ScheduleId, body: OverrideCreate, request: Request, caller: OncallCaller, now: NowDep
) -> OverrideRead:
    async def work(session: AsyncSession) -> OverrideRead:
        return await schedules.add_override(
            session, schedule_id=schedule_id, data=body, team=caller.confined_to, by=caller.name, now=now
        )

    return await transaction.run(request.app.state.sessionmaker, work)


@router.get(
    "/{schedule_id}/overrides",
    response_model=list[OverrideRead],
    summary="A schedule's overrides over a range",
    description="Those overlapping [from, to), by start; default from now, for 90 days.",
    responses=NOT_FOUND,
)
async def list_overrides(
    schedule_id: ScheduleId,
    caller: ReadCaller,
    session: SessionDep,
    now: NowDep,
    start: From = None,
    end: Annotated[ScheduleMoment | None, Query(alias="to", description="default: `from` + 90 days")] = None,
) -> list[OverrideRead]:
    lo = start or now
    hi = end or lo + schedules.MAX_RANGE
    async with session.begin():
        return await schedules.list_overrides(
            session, schedule_id=schedule_id, team=caller.confined_to, start=lo, end=hi
        )


@router.delete(
    "/{schedule_id}/overrides/{override_id}",
    response_model=OverrideRead,
    summary="Delete an override",
    responses=NOT_FOUND,
)
async def delete_override(
    schedule_id: ScheduleId,
    override_id: Annotated[uuid.UUID, Path(description="The override's id")],
    request: Request,
    caller: OncallCaller,
) -> OverrideRead:
    async def work(session: AsyncSession) -> OverrideRead:
        return await schedules.delete_override(
            session, schedule_id=schedule_id, override_id=override_id, team=caller.confined_to
        )

    return await transaction.run(request.app.state.sessionmaker, work)


@router.get(
    "/{schedule_id}/oncall",
    response_model=OnCallRead,
    summary="Who is on call",
    description="At `at` (default: now): the latest override covering it, else the top layer that has "
    "someone then; `user` is null when nobody is.",
    responses=NOT_FOUND,
)
async def oncall(
    schedule_id: ScheduleId,
    caller: ReadCaller,
    session: SessionDep,
    now: NowDep,
    at: Annotated[ScheduleMoment | None, Query(description="ISO 8601 with a zone; default: now")] = None,
) -> OnCallRead:
    async with session.begin():
        return await schedules.oncall(session, schedule_id=schedule_id, team=caller.confined_to, at=at or now)


@router.get(
    "/{schedule_id}/shifts",
    response_model=ShiftList,
    summary="Who is on call over a range",
    description="The shifts of [from, to) (at most 90 days; default from now, for 7 days), clipped to "
    "the range: sorted, non-overlapping, adjacent pieces of one user merged; a gap where nobody is.",
    responses=NOT_FOUND,
)
async def list_shifts(
    schedule_id: ScheduleId,
    caller: ReadCaller,
    session: SessionDep,
    now: NowDep,
    start: From = None,
    end: Annotated[ScheduleMoment | None, Query(alias="to", description="default: `from` + 7 days")] = None,
) -> ShiftList:
    lo: datetime = start or now
    hi: datetime = end or lo + DEFAULT_SHIFTS_RANGE
    async with session.begin():
        return await schedules.shifts_between(
            session, schedule_id=schedule_id, team=caller.confined_to, start=lo, end=hi
        )
