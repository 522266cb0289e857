"""A team's on-call configuration as one document (app/oncall_document.py).

Ids become names. The order is fixed so that the same configuration is the
same document: users, schedules and policies by name (their order means
nothing); layers, steps and routes in their order (it means something);
overrides in the order they win (the one made later last), only those that
have not ended.

Read only; the route owns the transaction. The queries of a team's rows
are shared with the import (imports.py), which locks them (`lock`) so that
two imports of one team take turns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import EscalationPolicy, OncallSchedule, Route, ScheduleOverride, User, UserTeam
from app.oncall_document import (
    DocumentLayer,
    DocumentOverride,
    DocumentPolicy,
    DocumentRoute,
    DocumentSchedule,
    DocumentStep,
    DocumentUser,
    OncallDocument,
)
from app.oncall_schemas import ContactMethod, LayerRead
from app.schemas import SilenceMatcher
from app.services.oncall import schedules as oncall_schedules


async def team_members(session: AsyncSession, *, team: str) -> list[User]:
    members = select(UserTeam.user_id).where(UserTeam.team == team)
    return list(await session.scalars(select(User).where(User.id.in_(members)).order_by(User.name)))


async def team_schedules(session: AsyncSession, *, team: str, lock: bool = False) -> list[OncallSchedule]:
    query = select(OncallSchedule).where(OncallSchedule.team == team).order_by(OncallSchedule.name)
    return list(await session.scalars(query.with_for_update() if lock else query))


async def team_policies(session: AsyncSession, *, team: str, lock: bool = False) -> list[EscalationPolicy]:
    query = select(EscalationPolicy).where(EscalationPolicy.team == team).order_by(EscalationPolicy.name)
    return list(await session.scalars(query.with_for_update() if lock else query))


async def team_routes(session: AsyncSession, *, team: str, lock: bool = False) -> list[Route]:
    query = select(Route).where(Route.team == team).order_by(Route.position, Route.created_at, Route.name)
    return list(await session.scalars(query.with_for_update() if lock else query))


async def export_team(session: AsyncSession, *, team: str, now: datetime) -> OncallDocument:
    members = await team_members(session, team=team)
    names = {user.id: user.name for user in members}
    schedules = await team_schedules(session, team=team)
    not_ended = await oncall_schedules.overrides_of(session, [s.id for s in schedules], start=now)
    policies = await team_policies(session, team=team)
    policy_names = {policy.id: policy.name for policy in policies}
    # Built without validating again: what is stored is exported as it is,
    # even a row another writer allows and the document would refuse (the
    # import then names it), rather than failing the export.
    return OncallDocument.model_construct(
        team=team,
        users=[user_of(user) for user in members],
        schedules=[schedule_of(s, not_ended[s.id], names) for s in schedules],
        escalation_policies=[policy_of(policy) for policy in policies],
        routes=[route_of(route, policy_names) for route in await team_routes(session, team=team)],
    )


def user_of(user: User) -> DocumentUser:
    return DocumentUser.model_construct(
        name=user.name,
        full_name=user.full_name,
        time_zone=user.time_zone,
        contact_methods=[ContactMethod.model_construct(**c) for c in user.contact_methods],
    )


def schedule_of(
    schedule: OncallSchedule, overrides: Sequence[ScheduleOverride], names: dict[uuid.UUID, str]
) -> DocumentSchedule:
    return DocumentSchedule.model_construct(
        name=schedule.name,
        description=schedule.description,
        time_zone=schedule.time_zone,
        layers=[_layer(LayerRead.model_validate(layer), names) for layer in schedule.layers],
        overrides=[
            DocumentOverride.model_construct(
                user=names[o.user_id], start=o.starts_at, end=o.ends_at, note=o.note
            )
            for o in overrides
            if o.user_id in names  # a member, as overriding users are
        ],
    )


def _layer(layer: LayerRead, names: dict[uuid.UUID, str]) -> DocumentLayer:
    return DocumentLayer.model_construct(
        name=layer.name,
        # Participants are members; one who is not (rows changed by hand) is left out.
        participants=[names[p] for p in layer.participants if p in names],
        shift_unit=layer.shift_unit,
        shift_length=layer.shift_length,
        handoff_time=layer.handoff_time,
        start_date=layer.start_date,
        restrictions=layer.restrictions,
    )


def policy_of(policy: EscalationPolicy) -> DocumentPolicy:
    return DocumentPolicy.model_construct(
        name=policy.name,
        description=policy.description,
        repeat_last_step=policy.repeat_last_step,
        repeat_every_minutes=policy.repeat_every_minutes,
        steps=[
            DocumentStep.model_construct(after_minutes=s["after_minutes"], notify=list(s["notify"]))
            for s in policy.steps
        ],
    )


def route_of(route: Route, policy_names: dict[uuid.UUID, str]) -> DocumentRoute:
    policy = None if route.escalation_policy_id is None else policy_names.get(route.escalation_policy_id)
    return DocumentRoute.model_construct(
        name=route.name,
        matchers=[
            SilenceMatcher.model_construct(
                name=m["name"], value=m["value"], is_regex=m.get("is_regex", False)
            )
            for m in route.matchers
        ],
        escalation_policy=policy,
        channels=list(route.channels),
        continue_matching=route.continue_matching,
    )
