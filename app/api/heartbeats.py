"""Heartbeat routes: a job's beat, the list, one heartbeat, retiring one.

A write runs in a transaction of its own through db/transaction.py, run
again once when its connection was lost before COMMIT. A heartbeat belongs
to the beating key's team; a key of every team (or admin) addresses another
team's with `?team=`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, Caller, ManageCaller, ReadCaller, WriteCaller, team_to_read
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.heartbeat_schemas import HEARTBEAT_NAME_PATTERN, HeartbeatBeat, HeartbeatRead, HeartbeatState
from app.services import heartbeats

router = APIRouter(
    prefix="/heartbeats",
    tags=["heartbeats"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)

NameParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=HEARTBEAT_NAME_PATTERN,
        description="letters, digits and . _ - :",
        examples=["nightly-backup"],
    ),
]
TeamParam = Annotated[
    str | None,
    Query(
        max_length=64, description="another team's heartbeat (keys of every team); default: the key's team"
    ),
]


def _team(caller: Caller, asked: str | None) -> str:
    """The one team a request on a named heartbeat addresses."""
    return team_to_read(caller, asked) or caller.home_team


@router.post(
    "/{name}",
    response_model=HeartbeatRead,
    summary="Beat: the job named is alive",
    description=(
        "Records a beat for the key's team: 201 (with Location) on the first beat of a name, 200 after. "
        "Without another beat within `timeout_seconds` the heartbeat is late and a `heartbeat_missed` "
        "alert opens (`source` = the name), deduplicated, notified and escalated as any alert; the next "
        "beat resolves it. The body is optional; a field given replaces the stored one, a field left "
        "out keeps it."
    ),
    responses={
        201: {"model": HeartbeatRead, "description": "The first beat of this name"},
        413: ERROR_RESPONSES[413],
    },
)
async def beat(
    name: NameParam,
    request: Request,
    response: Response,
    caller: WriteCaller,
    settings: SettingsDep,
    now: NowDep,
    body: Annotated[HeartbeatBeat | None, Body(title="Optional settings of the heartbeat")] = None,
) -> HeartbeatRead:
    data = body or HeartbeatBeat()

    async def work(session: AsyncSession) -> heartbeats.Beat:
        return await heartbeats.beat(
            session, team=caller.home_team, name=name, data=data, settings=settings, now=now
        )

    done = await transaction.run(request.app.state.sessionmaker, work)
    if done.resolved is not None:
        request.app.state.wake_delivery()
    if done.created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = str(request.url_for("get_heartbeat", name=name))
    return heartbeats.snapshot(done.heartbeat, now=now)


@router.get("", response_model=list[HeartbeatRead], summary="List heartbeats, by team and name")
async def list_heartbeats(
    caller: ReadCaller,
    session: SessionDep,
    now: NowDep,
    team: Annotated[
        str | None,
        Query(
            max_length=64, description="one team's heartbeats (a key confined to a team reads only its own)"
        ),
    ] = None,
    state: Annotated[list[HeartbeatState] | None, Query(description="up or late; repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[HeartbeatRead]:
    async with session.begin():
        rows = await heartbeats.list_heartbeats(
            session, team=team_to_read(caller, team), states=state, now=now, limit=limit
        )
    return [heartbeats.snapshot(row, now=now) for row in rows]


@router.get(
    "/{name}",
    response_model=HeartbeatRead,
    summary="One heartbeat",
    responses={404: ERROR_RESPONSES[404]},
)
async def get_heartbeat(
    name: NameParam, caller: ReadCaller, session: SessionDep, now: NowDep, team: TeamParam = None
) -> HeartbeatRead:
    async with session.begin():
        found = await heartbeats.get(session, team=_team(caller, team), name=name)
    return heartbeats.snapshot(found, now=now)


@router.delete(
    "/{name}",
    response_model=HeartbeatRead,
    summary="Retire a heartbeat",
    description=(
        "Deletes the heartbeat and resolves its open `heartbeat_missed` alert; answers the heartbeat "
        "as it was. A later beat of the same name starts it afresh."
    ),
    responses={404: ERROR_RESPONSES[404]},
)
async def retire_heartbeat(
    name: NameParam,
    request: Request,
    caller: ManageCaller,
    settings: SettingsDep,
    now: NowDep,
    team: TeamParam = None,
) -> HeartbeatRead:
    async def work(session: AsyncSession) -> heartbeats.Retired:
        return await heartbeats.retire(
            session, team=_team(caller, team), name=name, by=caller.name, settings=settings, now=now
        )

    done = await transaction.run(request.app.state.sessionmaker, work)
    if done.resolved is not None:
        request.app.state.wake_delivery()
    return done.heartbeat
