"""User routes: the people who can be on call (services/oncall/users.py).

`read` looks, `oncall:manage` changes. A key of one team sees and manages
the users of its team; another team's user is a 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, OncallCaller, ReadCaller, team_to_read
from app.api.deps import NowDep, SessionDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.oncall_schemas import UserCreate, UserRead, UserUpdate
from app.services.oncall import users

router = APIRouter(
    prefix="/users",
    tags=["on call"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)

UserId = Annotated[uuid.UUID, Path(description="The user's id")]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {**ERROR_RESPONSES[409], "description": "The name is taken, or the user is still needed"}
}


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a user",
    description="A person who can be on call, in the key's team unless `teams` says otherwise (keys of "
    "every team only). `name` is unique across the service.",
    responses={**CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def create_user(
    body: UserCreate, request: Request, response: Response, caller: OncallCaller, now: NowDep
) -> UserRead:
    async def work(session: AsyncSession) -> UserRead:
        return await users.create(
            session, data=body, team=caller.confined_to, home_team=caller.home_team, now=now
        )

    made = await transaction.run(request.app.state.sessionmaker, work)
    response.headers["Location"] = str(request.url_for("get_user", user_id=made.id))
    return made


@router.get("", response_model=list[UserRead], summary="List users, by name")
async def list_users(
    caller: ReadCaller,
    session: SessionDep,
    team: Annotated[
        str | None, Query(max_length=64, description="one team's users (a key of one team reads its own)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[UserRead]:
    async with session.begin():
        return await users.list_users(session, team=team_to_read(caller, team), limit=limit)


@router.get("/{user_id}", response_model=UserRead, summary="One user", responses={404: ERROR_RESPONSES[404]})
async def get_user(user_id: UserId, caller: ReadCaller, session: SessionDep) -> UserRead:
    async with session.begin():
        user = await users.get(session, user_id=user_id, team=caller.confined_to)
        teams = await users.teams_of(session, [user.id])
    return users.read(user, teams[user.id])


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    summary="Change a user",
    description="A field given replaces the stored one; a field left out keeps it. Only a key of every "
    "team changes `teams`; a team still using the user in a schedule keeps them (409).",
    responses={404: ERROR_RESPONSES[404], **CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def update_user(
    user_id: UserId, body: UserUpdate, request: Request, caller: OncallCaller, now: NowDep
) -> UserRead:
    async def work(session: AsyncSession) -> UserRead:
        return await users.update(session, user_id=user_id, data=body, team=caller.confined_to, now=now)

    return await transaction.run(request.app.state.sessionmaker, work)


@router.delete(
    "/{user_id}",
    response_model=UserRead,
    summary="Delete a user",
    description="Answers the user as it was. Refused (409) while a schedule names the user in a layer or "
    "in an override that has not ended, and, for a key of one team, while the user belongs to other teams.",
    responses={404: ERROR_RESPONSES[404], **CONFLICT},
)
async def delete_user(user_id: UserId, request: Request, caller: OncallCaller, now: NowDep) -> UserRead:
    async def work(session: AsyncSession) -> UserRead:
        return await users.delete_user(session, user_id=user_id, team=caller.confined_to, now=now)

    return await transaction.run(request.app.state.sessionmaker, work)
