from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, ManageAccess, ReadAccess
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.errors import NotFound
from app.models import OutboxRow
from app.schemas import ChannelRead, ChannelTestQueued
from app.services import outbox
from app.services.channels import channel_figures

router = APIRouter(
    prefix="/channels", tags=["channels"], responses={**AUTH_RESPONSES, 503: ERROR_RESPONSES[503]}
)


@router.get(
    "",
    dependencies=[ReadAccess],
    response_model=list[ChannelRead],
    summary="Configured channels and their delivery figures",
)
async def list_channels(session: SessionDep, settings: SettingsDep, now: NowDep) -> list[ChannelRead]:
    async with session.begin():
        figures = await channel_figures(session, settings, now=now)
    return [ChannelRead(**asdict(f)) for f in figures]


@router.post(
    "/{name}/test",
    dependencies=[ManageAccess],
    response_model=ChannelTestQueued,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a test notification to one channel",
    responses={404: ERROR_RESPONSES[404], 422: ERROR_RESPONSES[422]},
)
async def test_channel(name: str, request: Request, settings: SettingsDep, now: NowDep) -> ChannelTestQueued:
    if name not in settings.channels:
        raise NotFound(f"channel {name!r} is not configured", field="name")

    async def work(session: AsyncSession) -> OutboxRow:
        return await outbox.queue_test(session, channel=name, now=now)

    # Run again once if the connection was lost before COMMIT (db/transaction.py).
    row = await transaction.run(request.app.state.sessionmaker, work)
    request.app.state.wake_delivery()
    return ChannelTestQueued(notification_id=row.id, channel=name)
