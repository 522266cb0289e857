"""Escalation policies: a team's steps, each notifying schedules, users and
channels some minutes after an alert triggered, the last one repeated.

A policy belongs to one team; `team` in these functions is the one team the
caller is confined to, or None for a caller of every team (another team's
policy is not found). Its targets are checked when it is stored: a schedule
of its team, a user who is a member of it, a configured channel; the
schedules and users it names cannot then be deleted, renamed or leave the
team (services/oncall/references.py). A route using it keeps it from being
deleted (409).

Functions flush, never commit: the route owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import EscalationPolicy, OncallSchedule, Route, User, UserTeam
from app.routing_schemas import PolicyCreate, PolicyRead, PolicyStep, PolicyUpdate, parse_target
from app.settings import Settings


def read(policy: EscalationPolicy) -> PolicyRead:
    return PolicyRead(
        id=policy.id,
        team=policy.team,
        name=policy.name,
        description=policy.description,
        steps=[PolicyStep.model_validate(step) for step in policy.steps],
        repeat_last_step=policy.repeat_last_step,
        repeat_every_minutes=policy.repeat_every_minutes,
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


async def get(
    session: AsyncSession, *, policy_id: uuid.UUID, team: str | None, lock: bool = False
) -> EscalationPolicy:
    query = select(EscalationPolicy).where(EscalationPolicy.id == policy_id)
    if team is not None:
        query = query.where(EscalationPolicy.team == team)
    if lock:
        query = query.with_for_update()
    found: EscalationPolicy | None = await session.scalar(query)
    if found is None:
        raise NotFound(f"escalation policy {policy_id} not found", field="policy_id")
    return found


async def in_team(
    session: AsyncSession, *, team: str, policy_id: uuid.UUID | None = None, name: str | None = None
) -> EscalationPolicy | None:
    """The team's policy of that id (or name); None when the team has none such."""
    query = select(EscalationPolicy).where(EscalationPolicy.team == team)
    if policy_id is not None:
        query = query.where(EscalationPolicy.id == policy_id)
    if name is not None:
        query = query.where(EscalationPolicy.name == name)
    found: EscalationPolicy | None = await session.scalar(query)
    return found


async def list_policies(session: AsyncSession, *, team: str | None, limit: int) -> list[EscalationPolicy]:
    query = select(EscalationPolicy).order_by(EscalationPolicy.team, EscalationPolicy.name).limit(limit)
    if team is not None:
        query = query.where(EscalationPolicy.team == team)
    return list(await session.scalars(query))


def check_steps(
    steps: Sequence[PolicyStep], *, repeat_last_step: int, repeat_every_minutes: float | None
) -> None:
    """Steps in time order; repeats need their interval."""
    for i in range(1, len(steps)):
        if steps[i].after_minutes < steps[i - 1].after_minutes:
            raise InvalidInput(
                f"step {i} is due after {steps[i].after_minutes:g} minutes, before step {i - 1} "
                f"({steps[i - 1].after_minutes:g}): steps go in time order",
                field=f"steps.{i}.after_minutes",
            )
    if repeat_last_step > 0 and repeat_every_minutes is None:
        raise InvalidInput(
            "repeat_every_minutes is required when repeat_last_step is more than 0",
            field="repeat_every_minutes",
        )


async def check_targets(
    session: AsyncSession, *, team: str, steps: Sequence[PolicyStep], settings: Settings
) -> None:
    """Every target names a schedule of the team, a member of it, or a configured channel."""
    parsed = [[parse_target(target) for target in step.notify] for step in steps]
    wanted = {
        kind: {t.name for step in parsed for t in step if t.kind == kind} for kind in ("schedule", "user")
    }
    schedules = (
        set(
            await session.scalars(
                select(OncallSchedule.name).where(
                    OncallSchedule.team == team, OncallSchedule.name.in_(sorted(wanted["schedule"]))
                )
            )
        )
        if wanted["schedule"]
        else set()
    )
    users: dict[str, bool] = {}  # name -> a member of the team
    if wanted["user"]:
        members = select(UserTeam.user_id).where(UserTeam.team == team)
        for name, member in await session.execute(
            select(User.name, User.id.in_(members)).where(User.name.in_(sorted(wanted["user"])))
        ):
            users[name] = bool(member)
    for i, step in enumerate(parsed):
        for j, target in enumerate(step):
            where = f"steps.{i}.notify.{j}"
            if target.kind == "schedule" and target.name not in schedules:
                raise InvalidInput(f"team {team!r} has no schedule named {target.name!r}", field=where)
            if target.kind == "user" and target.name not in users:
                raise InvalidInput(f"no user is named {target.name!r}", field=where)
            if target.kind == "user" and not users[target.name]:
                raise InvalidInput(f"user {target.name!r} is not a member of team {team!r}", field=where)
            if target.kind == "channel" and target.name not in settings.channels:
                known = ", ".join(sorted(settings.channels))
                raise InvalidInput(f"unknown channel {target.name!r}; configured: {known}", field=where)


def _stored(steps: Sequence[PolicyStep]) -> list[dict[str, Any]]:
    return [step.model_dump(mode="json") for step in steps]


async def _name_free(
    session: AsyncSession, *, team: str, name: str, other_than: uuid.UUID | None = None
) -> None:
    taken = await session.scalar(
        select(EscalationPolicy.id).where(EscalationPolicy.team == team, EscalationPolicy.name == name)
    )
    if taken is not None and taken != other_than:
        raise Conflict(f"team {team!r} has an escalation policy named {name!r} already", field="name")


async def create(
    session: AsyncSession,
    *,
    data: PolicyCreate,
    team: str | None,
    home_team: str,
    settings: Settings,
    now: datetime,
) -> EscalationPolicy:
    if team is not None and data.team not in (None, team):
        raise Forbidden(f"a key of team {team!r} makes policies of its own team only", field="team")
    owner = data.team or home_team
    check_steps(
        data.steps, repeat_last_step=data.repeat_last_step, repeat_every_minutes=data.repeat_every_minutes
    )
    await check_targets(session, team=owner, steps=data.steps, settings=settings)
    await _name_free(session, team=owner, name=data.name)
    policy = EscalationPolicy(
        id=uuid.uuid4(),
        team=owner,
        name=data.name,
        description=data.description,
        steps=_stored(data.steps),
        repeat_last_step=data.repeat_last_step,
        repeat_every_minutes=data.repeat_every_minutes,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(policy)
    except IntegrityError:  # the same name, committed between our check and our insert
        raise Conflict(
            f"team {owner!r} has an escalation policy named {data.name!r} already", field="name"
        ) from None
    return policy


async def update(
    session: AsyncSession,
    *,
    policy_id: uuid.UUID,
    data: PolicyUpdate,
    team: str | None,
    settings: Settings,
    now: datetime,
) -> EscalationPolicy:
    policy = await get(session, policy_id=policy_id, team=team, lock=True)
    given = data.model_fields_set
    steps = data.steps if data.steps is not None else [PolicyStep.model_validate(s) for s in policy.steps]
    repeats = data.repeat_last_step if data.repeat_last_step is not None else policy.repeat_last_step
    every = data.repeat_every_minutes if "repeat_every_minutes" in given else policy.repeat_every_minutes
    check_steps(steps, repeat_last_step=repeats, repeat_every_minutes=every)
    if data.steps is not None:
        await check_targets(session, team=policy.team, steps=data.steps, settings=settings)
        policy.steps = _stored(data.steps)
    if data.name is not None and data.name != policy.name:
        await _name_free(session, team=policy.team, name=data.name, other_than=policy.id)
        policy.name = data.name
    if "description" in given:
        policy.description = data.description
    policy.repeat_last_step = repeats
    policy.repeat_every_minutes = every
    policy.updated_at = now
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            f"team {policy.team!r} has an escalation policy named {data.name!r} already", field="name"
        ) from None
    return policy


async def delete_policy(session: AsyncSession, *, policy_id: uuid.UUID, team: str | None) -> PolicyRead:
    """The policy as it was; 409 while a route uses it. Its alerts go back
    to the configured [escalation] policy (ON DELETE SET NULL)."""
    policy = await get(session, policy_id=policy_id, team=team, lock=True)
    using = sorted(await session.scalars(select(Route.name).where(Route.escalation_policy_id == policy.id)))
    if using:
        raise Conflict(
            f"escalation policy {policy.name!r} is used by route(s) {', '.join(using)}: change them first",
            field="policy_id",
        )
    last = read(policy)
    try:
        async with session.begin_nested():
            await session.delete(policy)
    except IntegrityError:  # a route made to use it meanwhile
        raise Conflict(f"escalation policy {policy.name!r} is used by a route", field="policy_id") from None
    return last
