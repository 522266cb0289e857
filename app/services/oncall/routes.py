"""Routes: a team's rules that give a new alert its escalation policy and
channels (services/oncall/routing.py applies them), and what a route would
do to an example alert.

A route belongs to one team; `team` in these functions is the one team the
caller is confined to, or None for a caller of every team (another team's
route is not found). Its policy must be one of its own team's, its channels
configured ones, its matchers what a silence accepts (RE2, the settings'
silence_max_matchers and silence_max_pattern_length).

Functions flush, never commit: the route owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import EscalationPolicy, Route
from app.routing_schemas import (
    PolicyRef,
    RouteCreate,
    RouteRead,
    RouteRef,
    RouteTest,
    RouteTestRead,
    RouteUpdate,
)
from app.schemas import SilenceMatcher
from app.services import decisions, silence_limits
from app.services.oncall import policies, routing
from app.settings import Settings


def read(route: Route, policy_name: str | None) -> RouteRead:
    return RouteRead(
        id=route.id,
        team=route.team,
        name=route.name,
        position=route.position,
        matchers=[SilenceMatcher.model_validate(m) for m in route.matchers],
        escalation_policy_id=route.escalation_policy_id,
        escalation_policy=policy_name,
        channels=list(route.channels),
        continue_matching=route.continue_matching,
        created_at=route.created_at,
        updated_at=route.updated_at,
    )


async def _policy_names(session: AsyncSession, routes: Sequence[Route]) -> dict[uuid.UUID, str]:
    ids = {r.escalation_policy_id for r in routes if r.escalation_policy_id is not None}
    if not ids:
        return {}
    rows = await session.execute(
        select(EscalationPolicy.id, EscalationPolicy.name).where(EscalationPolicy.id.in_(sorted(ids)))
    )
    return {policy_id: name for policy_id, name in rows}


async def read_many(session: AsyncSession, routes: Sequence[Route]) -> list[RouteRead]:
    names = await _policy_names(session, routes)
    return [
        read(r, None if r.escalation_policy_id is None else names.get(r.escalation_policy_id)) for r in routes
    ]


async def read_one(session: AsyncSession, route: Route) -> RouteRead:
    return (await read_many(session, [route]))[0]


async def get(session: AsyncSession, *, route_id: uuid.UUID, team: str | None, lock: bool = False) -> Route:
    query = select(Route).where(Route.id == route_id)
    if team is not None:
        query = query.where(Route.team == team)
    if lock:
        query = query.with_for_update()
    found: Route | None = await session.scalar(query)
    if found is None:
        raise NotFound(f"route {route_id} not found", field="route_id")
    return found


async def list_routes(session: AsyncSession, *, team: str | None, limit: int) -> list[Route]:
    """In the order they are tried: by team, position, then creation."""
    query = select(Route).order_by(Route.team, Route.position, Route.created_at, Route.id).limit(limit)
    if team is not None:
        query = query.where(Route.team == team)
    return list(await session.scalars(query))


def _check_channels(channels: Sequence[str], settings: Settings) -> list[str]:
    for i, name in enumerate(channels):
        if name not in settings.channels:
            known = ", ".join(sorted(settings.channels))
            raise InvalidInput(f"unknown channel {name!r}; configured: {known}", field=f"channels.{i}")
    return list(dict.fromkeys(channels))


async def _policy_id(
    session: AsyncSession, *, team: str, policy_id: uuid.UUID | None, name: str | None
) -> uuid.UUID | None:
    """The id of the team's policy the body names (by id or by name), None for none."""
    if policy_id is not None and name is not None:
        found = await policies.in_team(session, team=team, policy_id=policy_id)
        if found is None or found.name != name:
            raise InvalidInput(
                "escalation_policy_id and escalation_policy name different policies: give one",
                field="escalation_policy",
            )
        return found.id
    if policy_id is not None:
        found = await policies.in_team(session, team=team, policy_id=policy_id)
        if found is None:
            raise InvalidInput(
                f"team {team!r} has no escalation policy {policy_id}", field="escalation_policy_id"
            )
        return found.id
    if name is not None:
        found = await policies.in_team(session, team=team, name=name)
        if found is None:
            raise InvalidInput(
                f"team {team!r} has no escalation policy named {name!r}", field="escalation_policy"
            )
        return found.id
    return None


async def _name_free(
    session: AsyncSession, *, team: str, name: str, other_than: uuid.UUID | None = None
) -> None:
    taken = await session.scalar(select(Route.id).where(Route.team == team, Route.name == name))
    if taken is not None and taken != other_than:
        raise Conflict(f"team {team!r} has a route named {name!r} already", field="name")


async def _last_position(session: AsyncSession, team: str) -> int:
    last = await session.scalar(select(func.max(Route.position)).where(Route.team == team))
    return -1 if last is None else int(last)


def _stored_matchers(matchers: Sequence[SilenceMatcher]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in matchers]


async def create(
    session: AsyncSession,
    *,
    data: RouteCreate,
    team: str | None,
    home_team: str,
    settings: Settings,
    now: datetime,
) -> Route:
    if team is not None and data.team not in (None, team):
        raise Forbidden(f"a key of team {team!r} makes routes of its own team only", field="team")
    owner = data.team or home_team
    silence_limits.check_matchers(data.matchers, settings, kind="route")
    channels = _check_channels(data.channels, settings)
    policy_id = await _policy_id(
        session, team=owner, policy_id=data.escalation_policy_id, name=data.escalation_policy
    )
    await _name_free(session, team=owner, name=data.name)
    route = Route(
        id=uuid.uuid4(),
        team=owner,
        name=data.name,
        position=data.position if data.position is not None else await _last_position(session, owner) + 1,
        matchers=_stored_matchers(data.matchers),
        escalation_policy_id=policy_id,
        channels=channels,
        continue_matching=data.continue_matching,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(route)
    except IntegrityError:  # the name taken, or the policy deleted, between our checks and our insert
        raise Conflict(
            f"team {owner!r} has a route named {data.name!r} already, or its policy is gone"
        ) from None
    return route


async def update(
    session: AsyncSession,
    *,
    route_id: uuid.UUID,
    data: RouteUpdate,
    team: str | None,
    settings: Settings,
    now: datetime,
) -> Route:
    route = await get(session, route_id=route_id, team=team, lock=True)
    given = data.model_fields_set
    if data.name is not None and data.name != route.name:
        await _name_free(session, team=route.team, name=data.name, other_than=route.id)
        route.name = data.name
    if data.position is not None:
        route.position = data.position
    if data.matchers is not None:
        silence_limits.check_matchers(data.matchers, settings, kind="route")
        route.matchers = _stored_matchers(data.matchers)
    if data.channels is not None:
        route.channels = _check_channels(data.channels, settings)
    if data.continue_matching is not None:
        route.continue_matching = data.continue_matching
    if given & {"escalation_policy_id", "escalation_policy"}:
        route.escalation_policy_id = await _policy_id(
            session, team=route.team, policy_id=data.escalation_policy_id, name=data.escalation_policy
        )
    route.updated_at = now
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"team {route.team!r} has a route named {data.name!r} already, or its policy is gone"
        ) from None
    return route


async def delete_route(session: AsyncSession, *, route_id: uuid.UUID, team: str | None) -> RouteRead:
    route = await get(session, route_id=route_id, team=team, lock=True)
    last = await read_one(session, route)
    await session.delete(route)
    await session.flush()
    return last


async def try_alert(
    session: AsyncSession, *, data: RouteTest, team: str, settings: Settings
) -> RouteTestRead:
    """What the team's routes give an example alert, from the stored routes
    (not the table in memory, which may lag a change on another replica by
    a second)."""
    rows = await list_routes(session, team=team, limit=10_000)
    names = await _policy_names(session, rows)
    entries = {policy_id: routing.PolicyEntry(policy_id, name, 0.0) for policy_id, name in names.items()}
    table = routing.build(
        [
            {
                "id": r.id,
                "team": r.team,
                "name": r.name,
                "matchers": r.matchers,
                "escalation_policy_id": r.escalation_policy_id,
                "channels": r.channels,
                "continue_matching": r.continue_matching,
            }
            for r in rows
        ],
        entries,
        settings.channels,
    )
    routed = table.route(
        team=team, alert_type=data.alert_type, source=data.source, severity=data.severity, labels=data.labels
    )
    channels = decisions.channels_for(
        data.channels, settings, routed=() if routed is None else routed.channels
    )
    return RouteTestRead(
        team=team,
        severity=data.severity,
        routes=[] if routed is None else [RouteRef(id=r.id, name=r.name) for r in routed.routes],
        escalation_policy=None
        if routed is None or routed.policy is None
        else PolicyRef(id=routed.policy.id, name=routed.policy.name),
        channels=channels,
    )
