"""Import: a document (app/oncall_document.py) replaces a team's on-call
configuration, in the caller's one transaction.

First a plan, read from the database and the document and checked whole
before anything is written (so a dry run answers exactly what an import
would do, refusals included); then, unless it is a dry run, the plan is
carried out through the users' and schedules' own service functions, so
their rules (names free, participants members) hold here as in the API.

Matching is by name. Users: created, or updated and joined to the team;
members the document leaves out leave the team, and one left in no team
is deleted, unless another team still needs them (409). Schedules,
policies and routes: updated in place, so their ids stay (alerts keep
their policy), or created; those left out are deleted. A schedule's
overrides that have not ended are replaced when they differ from the
document's; overrides in the document that have ended are history and
are skipped. Nothing unchanged is written: importing what was exported
changes nothing, not even `updated_at`.

Escalation policies and routes are written here through their models;
their API's service module is to take these writes over.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden
from app.models import EscalationPolicy, OncallSchedule, Route
from app.oncall_document import DocumentSchedule, OncallDocument, OncallImportRead
from app.oncall_schemas import OverrideCreate, ScheduleCreate, ScheduleUpdate, UserCreate, UserUpdate
from app.services.oncall import schedules, users
from app.services.oncall.import_checks import check_document
from app.services.oncall.import_plan import (
    Plan,
    layer_body,
    make_plan,
    matchers_of,
    overrides_differ,
    steps_of,
)
from app.settings import Settings

# Overrides made by one import are a microsecond apart, in the document's
# order: of two that overlap, the later in the document wins.
_OVERRIDE_SPACING = timedelta(microseconds=1)


async def import_document(
    session: AsyncSession,
    *,
    document: OncallDocument,
    confined: str | None,
    settings: Settings,
    by: str,
    now: datetime,
    dry_run: bool,
) -> OncallImportRead:
    if confined is not None and document.team != confined:
        raise Forbidden(f"a key of team {confined!r} imports its own team only", field="team")
    check_document(document, settings=settings)
    plan = await make_plan(session, document, confined=confined, now=now, lock=not dry_run)
    if not dry_run and plan.changes.changed:
        try:
            await _apply(session, plan, by=by, now=now)
        except IntegrityError:
            # A name taken, or a row removed, by a write that committed meanwhile.
            raise Conflict(
                f"the configuration of team {document.team!r} changed during the import: try again"
            ) from None
    plan.changes.dry_run = dry_run
    return plan.changes


# --- carrying it out ------------------------------------------------------------------


async def _apply(session: AsyncSession, plan: Plan, *, by: str, now: datetime) -> None:
    ids = await _apply_users(session, plan, now=now)
    # Policies name schedules and users by name, never by key: they go first,
    # so that a schedule they stop naming can then be deleted.
    await _apply_policies_and_routes(session, plan, now=now)
    await _apply_schedules(session, plan, ids, by=by, now=now)
    # Last: the team's schedules and policies no longer name those who go.
    for name in plan.changes.users.left:
        user = plan.members[name]
        remaining = [t for t in plan.teams[user.id] if t != plan.team]
        await users.update(session, user_id=user.id, data=UserUpdate(teams=remaining), team=None, now=now)
    for name in plan.changes.users.deleted:
        await users.delete_user(session, user_id=plan.members[name].id, team=None, now=now)
    await session.flush()


async def _apply_users(session: AsyncSession, plan: Plan, *, now: datetime) -> dict[str, uuid.UUID]:
    ids: dict[str, uuid.UUID] = {}
    changes = plan.changes.users
    for data in plan.document.users:
        user = plan.existing.get(data.name)
        if user is None:
            made = await users.create(
                session,
                data=UserCreate(
                    name=data.name,
                    full_name=data.full_name,
                    time_zone=data.time_zone,
                    teams=[plan.team],
                    contact_methods=data.contact_methods,
                ),
                team=None,
                home_team=plan.team,
                now=now,
            )
            ids[data.name] = made.id
            continue
        ids[data.name] = user.id
        if data.name in changes.updated:
            fields = UserUpdate(
                full_name=data.full_name, time_zone=data.time_zone, contact_methods=data.contact_methods
            )
            await users.update(session, user_id=user.id, data=fields, team=None, now=now)
        if data.name in changes.joined:
            joined = UserUpdate(teams=sorted({*plan.teams[user.id], plan.team}))
            await users.update(session, user_id=user.id, data=joined, team=None, now=now)
    await session.flush()
    return ids


async def _apply_schedules(
    session: AsyncSession, plan: Plan, ids: dict[str, uuid.UUID], *, by: str, now: datetime
) -> None:
    changes = plan.changes.schedules
    for data in plan.document.schedules:
        layers = [layer_body(layer, ids) for layer in data.layers]
        current = plan.schedules.get(data.name)
        if current is None:
            current = await schedules.create(
                session,
                data=ScheduleCreate(
                    name=data.name,
                    team=plan.team,
                    description=data.description,
                    time_zone=data.time_zone,
                    layers=layers,
                ),
                team=None,
                home_team=plan.team,
                now=now,
            )
        elif data.name in changes.updated:
            fields = ScheduleUpdate(description=data.description, time_zone=data.time_zone, layers=layers)
            await schedules.update(session, schedule_id=current.id, data=fields, team=None, now=now)
        if overrides_differ(plan, data, now=now):
            await _replace_overrides(session, plan, current, data, ids, by=by, now=now)
    for name in changes.deleted:  # their overrides go with them
        await schedules.delete_schedule(session, schedule_id=plan.schedules[name].id, team=None)
    await session.flush()


async def _replace_overrides(
    session: AsyncSession,
    plan: Plan,
    schedule: OncallSchedule,
    data: DocumentSchedule,
    ids: dict[str, uuid.UUID],
    *,
    by: str,
    now: datetime,
) -> None:
    for old in plan.overrides.get(schedule.id, []):
        await schedules.delete_override(session, schedule_id=schedule.id, override_id=old.id, team=None)
    opened = [o for o in data.overrides if o.end > now]
    for n, override in enumerate(opened):
        await schedules.add_override(
            session,
            schedule_id=schedule.id,
            data=OverrideCreate(
                user_id=ids[override.user], start=override.start, end=override.end, note=override.note
            ),
            team=None,
            by=by,
            now=now + n * _OVERRIDE_SPACING,
        )


async def _apply_policies_and_routes(session: AsyncSession, plan: Plan, *, now: datetime) -> None:
    policy_ids: dict[str, uuid.UUID] = {}
    for data in plan.document.escalation_policies:
        policy = plan.policies.get(data.name)
        if policy is None:
            policy = EscalationPolicy(id=uuid.uuid4(), team=plan.team, name=data.name, created_at=now)
            session.add(policy)
        elif data.name not in plan.changes.escalation_policies.updated:
            policy_ids[data.name] = policy.id
            continue
        policy.description = data.description
        policy.steps = steps_of(data)
        policy.repeat_last_step = data.repeat_last_step
        policy.repeat_every_minutes = data.repeat_every_minutes
        policy.updated_at = now
        policy_ids[data.name] = policy.id
    await session.flush()
    for position, wanted in enumerate(plan.document.routes):
        route = plan.routes.get(wanted.name)
        if route is None:
            route = Route(id=uuid.uuid4(), team=plan.team, name=wanted.name, created_at=now)
            session.add(route)
        elif wanted.name not in plan.changes.routes.updated:
            continue
        route.position = position
        route.matchers = matchers_of(wanted)
        route.escalation_policy_id = (
            None if wanted.escalation_policy is None else policy_ids[wanted.escalation_policy]
        )
        route.channels = list(wanted.channels)
        route.continue_matching = wanted.continue_matching
        route.updated_at = now
    await session.flush()
    # Routes before policies: a policy a route names cannot be deleted.
    for name in plan.changes.routes.deleted:
        await session.delete(plan.routes[name])
    await session.flush()
    for name in plan.changes.escalation_policies.deleted:
        await session.delete(plan.policies[name])
    await session.flush()
