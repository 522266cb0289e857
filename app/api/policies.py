"""Escalation policy routes: a team's steps of whom to notify when
(services/oncall/policies.py).

`read` looks, `oncall:manage` changes. A key of one team sees and manages
its team's policies; another team's policy is a 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, OncallCaller, ReadCaller, team_to_read
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.routing_schemas import PolicyCreate, PolicyRead, PolicyUpdate
from app.services.oncall import policies, routing

router = APIRouter(
    prefix="/escalation-policies",
    tags=["on call"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)

PolicyId = Annotated[uuid.UUID, Path(description="The policy's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: ERROR_RESPONSES[404]}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {**ERROR_RESPONSES[409], "description": "The team has a policy of that name"}
}


@router.post(
    "",
    response_model=PolicyRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an escalation policy",
    description="A policy of the key's team (a key of every team may name `team`): steps in time order, "
    "each notifying `schedule:<name>`, `user:<name>` or channels `after_minutes` after the alert "
    "triggered; the last step is done again `repeat_last_step` times, every `repeat_every_minutes`. "
    "Routes choose which alerts it escalates.",
    responses={**CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def create_policy(
    body: PolicyCreate,
    request: Request,
    response: Response,
    caller: OncallCaller,
    settings: SettingsDep,
    now: NowDep,
) -> PolicyRead:
    async def work(session: AsyncSession) -> PolicyRead:
        made = await policies.create(
            session,
            data=body,
            team=caller.confined_to,
            home_team=caller.home_team,
            settings=settings,
            now=now,
        )
        return policies.read(made)

    made = await transaction.run(request.app.state.sessionmaker, work)
    await routing.changed(settings)
    response.headers["Location"] = str(request.url_for("get_policy", policy_id=made.id))
    return made


@router.get("", response_model=list[PolicyRead], summary="List escalation policies, by team and name")
async def list_policies(
    caller: ReadCaller,
    session: SessionDep,
    team: Annotated[
        str | None, Query(max_length=64, description="one team's policies (a key of one team reads its own)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[PolicyRead]:
    async with session.begin():
        rows = await policies.list_policies(session, team=team_to_read(caller, team), limit=limit)
        return [policies.read(row) for row in rows]


@router.get("/{policy_id}", response_model=PolicyRead, summary="One escalation policy", responses=NOT_FOUND)
async def get_policy(policy_id: PolicyId, caller: ReadCaller, session: SessionDep) -> PolicyRead:
    async with session.begin():
        return policies.read(await policies.get(session, policy_id=policy_id, team=caller.confined_to))


@router.patch(
    "/{policy_id}",
    response_model=PolicyRead,
    summary="Change an escalation policy",
    description="A field given replaces the stored one (`steps`: all of them); a field left out keeps it. "
    "Alerts it escalates follow the change from their next step.",
    responses={**NOT_FOUND, **CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def update_policy(
    policy_id: PolicyId,
    body: PolicyUpdate,
    request: Request,
    caller: OncallCaller,
    settings: SettingsDep,
    now: NowDep,
) -> PolicyRead:
    async def work(session: AsyncSession) -> PolicyRead:
        changed = await policies.update(
            session, policy_id=policy_id, data=body, team=caller.confined_to, settings=settings, now=now
        )
        return policies.read(changed)

    changed = await transaction.run(request.app.state.sessionmaker, work)
    await routing.changed(settings)
    return changed


@router.delete(
    "/{policy_id}",
    response_model=PolicyRead,
    summary="Delete an escalation policy",
    description="Answers the policy as it was; 409 while a route uses it. Its alerts go back to the "
    "configured [escalation] policy.",
    responses={**NOT_FOUND, 409: {**ERROR_RESPONSES[409], "description": "A route uses the policy"}},
)
async def delete_policy(
    policy_id: PolicyId, request: Request, caller: OncallCaller, settings: SettingsDep
) -> PolicyRead:
    async def work(session: AsyncSession) -> PolicyRead:
        return await policies.delete_policy(session, policy_id=policy_id, team=caller.confined_to)

    gone = await transaction.run(request.app.state.sessionmaker, work)
    await routing.changed(settings)
    return gone
