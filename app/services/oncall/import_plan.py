"""The plan of an import (imports.py): what a document changes in a team's
on-call configuration, by kind and name, read from the database and the
document and checked before anything is written. A dry run answers it as
it is; an import carries it out.

Nothing unchanged is in the plan: a user, schedule, policy or route is
`updated` only when a stored field differs, and a schedule's overrides
that have not ended are replaced only when they differ from the
document's (which lists them in the order they win). Overrides in the
document that have ended are history, and skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden
from app.models import EscalationPolicy, OncallSchedule, Route, ScheduleOverride, User
from app.oncall_document import (
    DocumentLayer,
    DocumentPolicy,
    DocumentRoute,
    DocumentSchedule,
    DocumentUser,
    ImportChanges,
    ImportOverrideChanges,
    ImportUserChanges,
    OncallDocument,
    OncallImportRead,
)
from app.oncall_schemas import ContactMethod, LayerBody, LayerRead
from app.services.oncall import export, users
from app.services.oncall import schedules as oncall_schedules


@dataclass
class Plan:
    team: str
    document: OncallDocument
    members: dict[str, User]  # the team's members now, by name
    existing: dict[str, User]  # the document's users that exist, by name
    teams: dict[uuid.UUID, list[str]]  # the teams of both
    schedules: dict[str, OncallSchedule]
    overrides: dict[uuid.UUID, list[ScheduleOverride]]  # not ended, in the order they win
    policies: dict[str, EscalationPolicy]
    routes: dict[str, Route]
    changes: OncallImportRead = field(init=False)


async def make_plan(
    session: AsyncSession, document: OncallDocument, *, confined: str | None, now: datetime, lock: bool
) -> Plan:
    team = document.team
    members = {u.name: u for u in await export.team_members(session, team=team)}
    wanted = [u.name for u in document.users]
    existing = (
        {u.name: u for u in await session.scalars(select(User).where(User.name.in_(wanted)))}
        if wanted
        else {}
    )
    teams = await users.teams_of(session, {u.id for u in [*members.values(), *existing.values()]})
    rows = await export.team_schedules(session, team=team, lock=lock)
    plan = Plan(
        team=team,
        document=document,
        members=members,
        existing=existing,
        teams=teams,
        schedules={s.name: s for s in rows},
        overrides=await oncall_schedules.overrides_of(session, [s.id for s in rows], start=now),  # not ended
        policies={p.name: p for p in await export.team_policies(session, team=team, lock=lock)},
        routes={r.name: r for r in await export.team_routes(session, team=team, lock=lock)},
    )
    plan.changes = OncallImportRead(
        team=team,
        dry_run=True,
        changed=False,
        users=await _user_changes(session, plan, confined=confined, now=now),
        schedules=_named(plan.schedules, [(s.name, _schedule_differs(plan, s)) for s in document.schedules]),
        overrides=_override_changes(plan, now=now),
        escalation_policies=_named(
            plan.policies, [(p.name, _policy_differs(plan, p)) for p in document.escalation_policies]
        ),
        routes=_named(
            plan.routes, [(r.name, _route_differs(plan, i, r)) for i, r in enumerate(document.routes)]
        ),
    )
    plan.changes.changed = _any_change(plan.changes)
    return plan


def _named(current: dict[str, Any], wanted: Sequence[tuple[str, bool]]) -> ImportChanges:
    names = {name for name, _ in wanted}
    return ImportChanges(
        created=sorted(name for name, _ in wanted if name not in current),
        updated=sorted(name for name, differs in wanted if name in current and differs),
        deleted=sorted(set(current) - names),
    )


def _any_change(changes: OncallImportRead) -> bool:
    kinds = (changes.users, changes.schedules, changes.escalation_policies, changes.routes)
    return (
        any(kind.created or kind.updated or kind.deleted for kind in kinds)
        or bool(changes.users.joined or changes.users.left)
        or bool(changes.overrides.created or changes.overrides.deleted)
    )


async def _user_changes(
    session: AsyncSession, plan: Plan, *, confined: str | None, now: datetime
) -> ImportUserChanges:
    changes = ImportUserChanges()
    for i, data in enumerate(plan.document.users):
        user = plan.existing.get(data.name)
        if user is None:
            changes.created.append(data.name)
            continue
        if data.name not in plan.members:
            if confined is not None:
                others = ", ".join(plan.teams[user.id])
                raise Forbidden(
                    f"user {data.name!r} exists in other teams ({others}): a key of team {confined!r} "
                    "does not take in another team's user; a key of every team does",
                    field=f"users.{i}.name",
                )
            changes.joined.append(data.name)
        if _user_differs(user, data):
            changes.updated.append(data.name)
    kept = {u.name for u in plan.document.users}
    for name, user in sorted(plan.members.items()):
        if name in kept:
            continue
        if [t for t in plan.teams[user.id] if t != plan.team]:
            changes.left.append(name)
        else:
            await _not_needed_elsewhere(session, user, team=plan.team, now=now)
            changes.deleted.append(name)
    changes.created.sort()
    changes.updated.sort()
    changes.joined.sort()
    return changes


async def _not_needed_elsewhere(session: AsyncSession, user: User, *, team: str, now: datetime) -> None:
    """Conflict when anything of another team still names a user whom the
    import would delete: a layer, an override that has not ended, a policy's
    `user:` target. (The import replaces all of `team`'s.)"""
    needs: list[str] = []
    others = await session.scalars(select(OncallSchedule).where(OncallSchedule.team != team))
    for schedule in others:
        if any(str(user.id) in layer.get("participants", []) for layer in schedule.layers):
            needs.append(f"schedule {schedule.name!r} of team {schedule.team!r}")
    covering = await session.execute(
        select(OncallSchedule.name, OncallSchedule.team)
        .join(ScheduleOverride, ScheduleOverride.schedule_id == OncallSchedule.id)
        .where(
            OncallSchedule.team != team, ScheduleOverride.user_id == user.id, ScheduleOverride.ends_at > now
        )
    )
    needs.extend(f"an override of schedule {name!r} of team {owner!r}" for name, owner in covering)
    policies = await session.scalars(select(EscalationPolicy).where(EscalationPolicy.team != team))
    for policy in policies:
        if any(f"user:{user.name}" in step.get("notify", []) for step in policy.steps):
            needs.append(f"escalation policy {policy.name!r} of team {policy.team!r}")
    if needs:
        raise Conflict(
            f"user {user.name!r} would leave their last team, but {', '.join(sorted(set(needs)))} still "
            "names them: keep them in the document, or change that first",
            field="users",
        )


def _user_differs(user: User, data: DocumentUser) -> bool:
    contacts = [ContactMethod.model_validate(c).model_dump() for c in user.contact_methods]
    return (user.full_name, user.time_zone, contacts) != (
        data.full_name,
        data.time_zone,
        [c.model_dump() for c in data.contact_methods],
    )


def _schedule_differs(plan: Plan, data: DocumentSchedule) -> bool:
    current = plan.schedules.get(data.name)
    if current is None:
        return True
    ids = {name: user.id for name, user in plan.members.items()}
    stored = [LayerRead.model_validate(layer).model_dump(mode="json") for layer in current.layers]
    # A participant who is not a member yet cannot be in a stored layer: that layer differs.
    wanted = [
        layer_body(layer, ids).model_dump(mode="json") if _known(layer, ids) else None
        for layer in data.layers
    ]
    return (current.description, current.time_zone, stored) != (data.description, data.time_zone, wanted)


def _known(layer: DocumentLayer, ids: dict[str, uuid.UUID]) -> bool:
    return all(name in ids for name in layer.participants)


def layer_body(layer: DocumentLayer, ids: dict[str, uuid.UUID]) -> LayerBody:
    return LayerBody(
        name=layer.name,
        participants=[ids[name] for name in layer.participants],
        shift_unit=layer.shift_unit,
        shift_length=layer.shift_length,
        handoff_time=layer.handoff_time,
        start_date=layer.start_date,
        restrictions=layer.restrictions,
    )


def open_in_document(
    data: DocumentSchedule, *, now: datetime
) -> list[tuple[str, datetime, datetime, str | None]]:
    return [(o.user, o.start, o.end, o.note) for o in data.overrides if o.end > now]


def overrides_differ(plan: Plan, data: DocumentSchedule, *, now: datetime) -> bool:
    current = plan.schedules.get(data.name)
    stored = [] if current is None else plan.overrides[current.id]
    names = {user.id: name for name, user in plan.members.items()}
    return [(names.get(o.user_id), o.starts_at, o.ends_at, o.note) for o in stored] != open_in_document(
        data, now=now
    )


def _override_changes(plan: Plan, *, now: datetime) -> ImportOverrideChanges:
    changes = ImportOverrideChanges()
    wanted = {s.name for s in plan.document.schedules}
    for data in plan.document.schedules:
        if overrides_differ(plan, data, now=now):
            current = plan.schedules.get(data.name)
            changes.deleted += 0 if current is None else len(plan.overrides[current.id])
            changes.created += len(open_in_document(data, now=now))
    for name, schedule in plan.schedules.items():
        if name not in wanted:  # they go with their schedule
            changes.deleted += len(plan.overrides[schedule.id])
    return changes


def steps_of(data: DocumentPolicy) -> list[dict[str, Any]]:
    return [{"after_minutes": float(s.after_minutes), "notify": list(s.notify)} for s in data.steps]


def _policy_differs(plan: Plan, data: DocumentPolicy) -> bool:
    current = plan.policies.get(data.name)
    if current is None:
        return True
    stored = [
        {"after_minutes": float(s["after_minutes"]), "notify": list(s["notify"])} for s in current.steps
    ]
    return (current.description, stored, current.repeat_last_step, current.repeat_every_minutes) != (
        data.description,
        steps_of(data),
        data.repeat_last_step,
        data.repeat_every_minutes,
    )


def matchers_of(data: DocumentRoute) -> list[dict[str, Any]]:
    return [m.model_dump() for m in data.matchers]


def _route_differs(plan: Plan, position: int, data: DocumentRoute) -> bool:
    current = plan.routes.get(data.name)
    if current is None:
        return True
    policy_names = {p.id: name for name, p in plan.policies.items()}
    stored = [
        {"name": m["name"], "value": m["value"], "is_regex": m.get("is_regex", False)}
        for m in current.matchers
    ]
    policy = (
        None if current.escalation_policy_id is None else policy_names.get(current.escalation_policy_id, "")
    )
    return (current.position, stored, policy, list(current.channels), current.continue_matching) != (
        position,
        matchers_of(data),
        data.escalation_policy,
        list(data.channels),
        data.continue_matching,
    )
