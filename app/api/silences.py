"""Silence routes: maintenance windows that hold notifications.

A write runs in a transaction of its own through db/transaction.py: run
again once when its connection was lost before COMMIT, answered 503 when it
still fails.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, ManageCaller, ReadCaller
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.models import OutboxRow, Silence
from app.schemas import SilenceCreate, SilenceRead, SilenceState
from app.services import silences

router = APIRouter(
    prefix="/silences",
    tags=["silences"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)


def _read(silence: Silence, now: NowDep) -> SilenceRead:
    read = SilenceRead.model_validate(silence)
    return read.model_copy(update={"state": silences.state(silence, now=now)})


@router.post(
    "",
    response_model=SilenceRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a silence",
    description=(
        "Alerts matching every matcher while the silence is in force are still recorded, "
        "deduplicated and escalated, but their notifications are held (`silenced`). When the "
        "silence ends, each alert that is still active notifies once. A key confined to a team "
        'silences its team\'s alerts only; a key of every team (`team = "*"`) makes a silence of every team.'
    ),
    responses={413: ERROR_RESPONSES[413]},
)
async def create_silence(
    body: SilenceCreate,
    request: Request,
    response: Response,
    caller: ManageCaller,
    settings: SettingsDep,
    now: NowDep,
) -> SilenceRead:
    async def work(session: AsyncSession) -> Silence:
        return await silences.create(session, data=body, team=caller.silence_team, settings=settings, now=now)

    silence = await transaction.run(request.app.state.sessionmaker, work)
    response.headers["Location"] = str(request.url_for("get_silence", silence_id=silence.id))
    return _read(silence, now)


@router.get("", response_model=list[SilenceRead], summary="List silences, newest first")
async def list_silences(
    caller: ReadCaller,
    session: SessionDep,
    now: NowDep,
    state: Annotated[list[SilenceState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SilenceRead]:
    async with session.begin():
        rows = await silences.list_silences(
            session, states=state, team=caller.confined_to, now=now, limit=limit
        )
    return [_read(row, now) for row in rows]


@router.get(
    "/{silence_id}",
    response_model=SilenceRead,
    summary="One silence",
    responses={404: ERROR_RESPONSES[404]},
)
async def get_silence(
    silence_id: uuid.UUID, caller: ReadCaller, session: SessionDep, now: NowDep
) -> SilenceRead:
    async with session.begin():
        silence = await silences.get(session, silence_id, team=caller.confined_to)
    return _read(silence, now)


@router.delete(
    "/{silence_id}",
    response_model=SilenceRead,
    summary="Expire a silence now",
    description="Ends the silence and releases what it held: still-active alerts notify once.",
    responses={403: ERROR_RESPONSES[403], 404: ERROR_RESPONSES[404], 409: ERROR_RESPONSES[409]},
)
async def expire_silence(
    silence_id: uuid.UUID,
    request: Request,
    caller: ManageCaller,
    settings: SettingsDep,
    now: NowDep,
) -> SilenceRead:
    async def work(session: AsyncSession) -> tuple[Silence, list[OutboxRow]]:
        return await silences.expire(
            session, silence_id=silence_id, team=caller.confined_to, settings=settings, now=now
        )

    silence, rows = await transaction.run(request.app.state.sessionmaker, work)
    if rows:
        request.app.state.wake_delivery()
    return _read(silence, now)
