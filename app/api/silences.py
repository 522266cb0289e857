"""Silence routes: maintenance windows that hold notifications."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.api.auth import AUTH_RESPONSES, ManageAccess, ReadAccess
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.models import Silence
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
    dependencies=[ManageAccess],
    summary="Create a silence",
    description=(
        "Alerts matching every matcher while the silence is in force are still recorded, "
        "deduplicated and escalated, but their notifications are held (`silenced`). When the "
        "silence ends, each alert that is still active notifies once."
    ),
    responses={413: ERROR_RESPONSES[413]},
)
async def create_silence(
    body: SilenceCreate, request: Request, response: Response, session: SessionDep, now: NowDep
) -> SilenceRead:
    async with session.begin():
        silence = await silences.create(session, data=body, now=now)
    response.headers["Location"] = str(request.url_for("get_silence", silence_id=silence.id))
    return _read(silence, now)


@router.get(
    "", dependencies=[ReadAccess], response_model=list[SilenceRead], summary="List silences, newest first"
)
async def list_silences(
    session: SessionDep,
    now: NowDep,
    state: Annotated[list[SilenceState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SilenceRead]:
    async with session.begin():
        rows = await silences.list_silences(session, states=state, now=now, limit=limit)
    return [_read(row, now) for row in rows]


@router.get(
    "/{silence_id}",
    dependencies=[ReadAccess],
    response_model=SilenceRead,
    summary="One silence",
    responses={404: ERROR_RESPONSES[404]},
)
async def get_silence(silence_id: uuid.UUID, session: SessionDep, now: NowDep) -> SilenceRead:
    async with session.begin():
        silence = await silences.get(session, silence_id)
    return _read(silence, now)


@router.delete(
    "/{silence_id}",
    response_model=SilenceRead,
    dependencies=[ManageAccess],
    summary="Expire a silence now",
    description="Ends the silence and releases what it held: still-active alerts notify once.",
    responses={404: ERROR_RESPONSES[404], 409: ERROR_RESPONSES[409]},
)
async def expire_silence(
    silence_id: uuid.UUID, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> SilenceRead:
    async with session.begin():
        silence, rows = await silences.expire(session, silence_id=silence_id, settings=settings, now=now)
    if rows:
        request.app.state.wake_delivery()
    return _read(silence, now)
