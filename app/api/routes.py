"""Route routes: a team's rules choosing a new alert's escalation policy and
channels (services/oncall/routes.py; applied by services/oncall/routing.py),
and `POST /routes/test` to see what they do to an example alert.

`read` looks (and tests), `oncall:manage` changes. A key of one team sees
and manages its team's routes; another team's route is a 404.
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
from app.routing_schemas import RouteCreate, RouteRead, RouteTest, RouteTestRead, RouteUpdate
from app.services.oncall import routes, routing

router = APIRouter(
    prefix="/routes",
    tags=["on call"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)

# `:uuid`: /routes/test is not a route's id, so another method there is a 405, not a 422.
RouteId = Annotated[uuid.UUID, Path(description="The route's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: ERROR_RESPONSES[404]}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {**ERROR_RESPONSES[409], "description": "The team has a route of that name"}
}


@router.post(
    "",
    response_model=RouteRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a route",
    description="A route of the key's team (a key of every team may name `team`). A new or reopened "
    "alert of the team tries the routes by `position`; the first whose `matchers` all match gives it "
    "its escalation policy and channels (with `continue`, later matching routes add theirs). Other "
    "replicas see the change within about a second.",
    responses={**CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def create_route(
    body: RouteCreate,
    request: Request,
    response: Response,
    caller: OncallCaller,
    settings: SettingsDep,
    now: NowDep,
) -> RouteRead:
    async def work(session: AsyncSession) -> RouteRead:
        made = await routes.create(
            session,
            data=body,
            team=caller.confined_to,
            home_team=caller.home_team,
            settings=settings,
            now=now,
        )
        return await routes.read_one(session, made)

    made = await transaction.run(request.app.state.sessionmaker, work)
    await routing.changed(settings)
    response.headers["Location"] = str(request.url_for("get_route", route_id=made.id))
    return made


@router.get("", response_model=list[RouteRead], summary="List routes, in the order they are tried")
async def list_routes(
    caller: ReadCaller,
    session: SessionDep,
    team: Annotated[
        str | None, Query(max_length=64, description="one team's routes (a key of one team reads its own)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[RouteRead]:
    async with session.begin():
        rows = await routes.list_routes(session, team=team_to_read(caller, team), limit=limit)
        return await routes.read_many(session, rows)


@router.post(
    "/test",
    response_model=RouteTestRead,
    summary="Which routes an example alert takes",
    description="The routes that match (in order), the escalation policy chosen and the alert's "
    "channels, from the stored routes; nothing is created.",
)
async def test_routes(
    body: RouteTest, caller: ReadCaller, session: SessionDep, settings: SettingsDep
) -> RouteTestRead:
    team = team_to_read(caller, body.team) or caller.home_team
    async with session.begin():
        return await routes.try_alert(session, data=body, team=team, settings=settings)


@router.get("/{route_id:uuid}", response_model=RouteRead, summary="One route", responses=NOT_FOUND)
async def get_route(route_id: RouteId, caller: ReadCaller, session: SessionDep) -> RouteRead:
    async with session.begin():
        found = await routes.get(session, route_id=route_id, team=caller.confined_to)
        return await routes.read_one(session, found)


@router.patch(
    "/{route_id:uuid}",
    response_model=RouteRead,
    summary="Change a route",
    description="A field given replaces the stored one; a field left out keeps it; a null "
    "`escalation_policy_id` takes the policy off. Alerts already routed keep their policy.",
    responses={**NOT_FOUND, **CONFLICT, 413: ERROR_RESPONSES[413]},
)
async def update_route(
    route_id: RouteId,
    body: RouteUpdate,
    request: Request,
    caller: OncallCaller,
    settings: SettingsDep,
    now: NowDep,
) -> RouteRead:
    async def work(session: AsyncSession) -> RouteRead:
        changed = await routes.update(
            session, route_id=route_id, data=body, team=caller.confined_to, settings=settings, now=now
        )
        return await routes.read_one(session, changed)

    changed = await transaction.run(request.app.state.sessionmaker, work)
    await routing.changed(settings)
    return changed


@router.delete("/{route_id:uuid}", response_model=RouteRead, summary="Delete a route", responses=NOT_FOUND)
async def delete_route(
    route_id: RouteId, request: Request, caller: OncallCaller, settings: SettingsDep
) -> RouteRead:
    async def work(session: AsyncSession) -> RouteRead:
        return await routes.delete_route(session, route_id=route_id, team=caller.confined_to)

    gone = await transaction.run(request.app.state.sessionmaker, work)
    await routing.changed(settings)
    return gone
