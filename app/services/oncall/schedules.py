"""Schedules (with their layers inline), their overrides, and who is on call.

A schedule belongs to one team; `team` in these functions is the one team
the caller is confined to, or None for a caller of every team (another
team's schedule is not found). Participants and overriding users must be
members of the schedule's team. The rows become a shifts.Schedule here and
shifts.py answers; this module only reads and writes.

Functions flush, never commit: the route owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models import OncallSchedule, ScheduleOverride, User
from app.oncall_schemas import (
    WEEKDAYS,
    LayerBody,
    LayerRead,
    OnCallRead,
    OverrideCreate,
    OverrideRead,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
    ShiftList,
    ShiftRead,
    clock_offset,
)
from app.services.oncall import references, users
from app.services.oncall import shifts as rota

MAX_RANGE = timedelta(days=90)
CHUNK = 500  # names or ids per statement: within every driver's bound parameters


def read(schedule: OncallSchedule) -> ScheduleRead:
    return ScheduleRead(
        id=schedule.id,
        team=schedule.team,
        name=schedule.name,
        description=schedule.description,
        time_zone=schedule.time_zone,
        layers=[LayerRead.model_validate(layer) for layer in schedule.layers],
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


async def get(
    session: AsyncSession, *, schedule_id: uuid.UUID, team: str | None, lock: bool = False
) -> OncallSchedule:
    query = select(OncallSchedule).where(OncallSchedule.id == schedule_id)
    if team is not None:
        query = query.where(OncallSchedule.team == team)
    if lock:
        query = query.with_for_update()
    found: OncallSchedule | None = await session.scalar(query)
    if found is None:
        raise NotFound(f"schedule {schedule_id} not found", field="schedule_id")
    return found


async def list_schedules(session: AsyncSession, *, team: str | None, limit: int) -> list[OncallSchedule]:
    query = select(OncallSchedule).order_by(OncallSchedule.team, OncallSchedule.name).limit(limit)
    if team is not None:
        query = query.where(OncallSchedule.team == team)
    return list(await session.scalars(query))


async def _participants_are_members(session: AsyncSession, *, team: str, layers: list[LayerBody]) -> None:
    wanted = {user_id for layer in layers for user_id in layer.participants}
    members = await users.members(session, team=team, user_ids=wanted)
    for i, layer in enumerate(layers):
        for j, user_id in enumerate(layer.participants):
            if user_id not in members:
                raise InvalidInput(
                    f"user {user_id} is not a member of team {team!r}", field=f"layers.{i}.participants.{j}"
                )


def _stored(layers: list[LayerBody]) -> list[dict[str, Any]]:
    return [layer.model_dump(mode="json") for layer in layers]


async def _name_free(
    session: AsyncSession, *, team: str, name: str, other_than: uuid.UUID | None = None
) -> None:
    taken = await session.scalar(
        select(OncallSchedule.id).where(OncallSchedule.team == team, OncallSchedule.name == name)
    )
    if taken is not None and taken != other_than:
        raise Conflict(f"team {team!r} has a schedule named {name!r} already", field="name")


async def create(
    session: AsyncSession, *, data: ScheduleCreate, team: str | None, home_team: str, now: datetime
) -> OncallSchedule:
    if team is not None and data.team not in (None, team):
        raise Forbidden(f"a key of team {team!r} makes schedules of its own team only", field="team")
    owner = data.team or home_team
    await _participants_are_members(session, team=owner, layers=data.layers)
    await _name_free(session, team=owner, name=data.name)
    schedule = OncallSchedule(
        id=uuid.uuid4(),
        team=owner,
        name=data.name,
        description=data.description,
        time_zone=data.time_zone,
        layers=_stored(data.layers),
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(schedule)
    except IntegrityError:
        raise Conflict(f"team {owner!r} has a schedule named {data.name!r} already", field="name") from None
    return schedule


async def update(
    session: AsyncSession, *, schedule_id: uuid.UUID, data: ScheduleUpdate, team: str | None, now: datetime
) -> OncallSchedule:
    schedule = await get(session, schedule_id=schedule_id, team=team, lock=True)
    if data.name is not None and data.name != schedule.name:
        await _name_free(session, team=schedule.team, name=data.name, other_than=schedule.id)
        await references.refuse_if_named(
            session,
            teams=[schedule.team],
            kind="schedule",
            name=schedule.name,
            doing="rename the schedule",
            field="name",
        )
        schedule.name = data.name
    if "description" in data.model_fields_set:
        schedule.description = data.description
    if data.time_zone is not None:
        schedule.time_zone = data.time_zone
    if data.layers is not None:
        await _participants_are_members(session, team=schedule.team, layers=data.layers)
        schedule.layers = _stored(data.layers)
    schedule.updated_at = now
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            f"team {schedule.team!r} has a schedule named {data.name!r} already", field="name"
        ) from None
    return schedule


async def delete_schedule(session: AsyncSession, *, schedule_id: uuid.UUID, team: str | None) -> ScheduleRead:
    schedule = await get(session, schedule_id=schedule_id, team=team, lock=True)
    await references.refuse_if_named(
        session,
        teams=[schedule.team],
        kind="schedule",
        name=schedule.name,
        doing="delete the schedule",
        field="schedule_id",
    )
    last = read(schedule)
    await session.delete(schedule)  # its overrides go with it (ON DELETE CASCADE)
    await session.flush()
    return last


# --- overrides ------------------------------------------------------------------------


def _override_read(override: ScheduleOverride, user: User) -> OverrideRead:
    return OverrideRead(
        id=override.id,
        schedule_id=override.schedule_id,
        user=users.ref(user),
        start=override.starts_at,
        end=override.ends_at,
        note=override.note,
        created_by=override.created_by,
        created_at=override.created_at,
    )


async def add_override(
    session: AsyncSession,
    *,
    schedule_id: uuid.UUID,
    data: OverrideCreate,
    team: str | None,
    by: str,
    now: datetime,
) -> OverrideRead:
    schedule = await get(session, schedule_id=schedule_id, team=team)
    if not await users.members(session, team=schedule.team, user_ids=[data.user_id]):
        raise InvalidInput(f"user {data.user_id} is not a member of team {schedule.team!r}", field="user_id")
    override = ScheduleOverride(
        id=uuid.uuid4(),
        schedule_id=schedule.id,
        user_id=data.user_id,
        starts_at=data.start,
        ends_at=data.end,
        note=data.note,
        created_by=by,
        created_at=now,
    )
    session.add(override)
    await session.flush()
    user = await users.get(session, user_id=data.user_id, team=None)
    return _override_read(override, user)


async def _overrides(
    session: AsyncSession, schedule: OncallSchedule, *, start: datetime, end: datetime
) -> list[ScheduleOverride]:
    """Those overlapping [start, end), in the order they win: the later made last."""
    return (await overrides_of(session, [schedule.id], start=start, end=end))[schedule.id]


async def overrides_of(
    session: AsyncSession, schedule_ids: Sequence[uuid.UUID], *, start: datetime, end: datetime | None = None
) -> dict[uuid.UUID, list[ScheduleOverride]]:
    """Per schedule asked (an empty list for none), the overrides that overlap
    [start, end), or that have not ended by `start` when there is no `end`,
    in the order they win: the later made last. CHUNK schedules a statement."""
    found: dict[uuid.UUID, list[ScheduleOverride]] = {schedule_id: [] for schedule_id in schedule_ids}
    ids = list(found)
    for first in range(0, len(ids), CHUNK):
        query = select(ScheduleOverride).where(
            ScheduleOverride.schedule_id.in_(ids[first : first + CHUNK]), ScheduleOverride.ends_at > start
        )
        if end is not None:
            query = query.where(ScheduleOverride.starts_at < end)
        for override in await session.scalars(
            query.order_by(ScheduleOverride.created_at, ScheduleOverride.id)
        ):
            found[override.schedule_id].append(override)
    return found


async def list_overrides(
    session: AsyncSession, *, schedule_id: uuid.UUID, team: str | None, start: datetime, end: datetime
) -> list[OverrideRead]:
    schedule = await get(session, schedule_id=schedule_id, team=team)
    found = sorted(
        await _overrides(session, schedule, start=start, end=end), key=lambda o: (o.starts_at, o.created_at)
    )
    people = await users.by_ids(session, {o.user_id for o in found})
    return [_override_read(o, people[o.user_id]) for o in found]


async def delete_override(
    session: AsyncSession, *, schedule_id: uuid.UUID, override_id: uuid.UUID, team: str | None
) -> OverrideRead:
    schedule = await get(session, schedule_id=schedule_id, team=team)
    override: ScheduleOverride | None = await session.scalar(
        select(ScheduleOverride).where(
            ScheduleOverride.id == override_id, ScheduleOverride.schedule_id == schedule.id
        )
    )
    if override is None:
        raise NotFound(f"override {override_id} not found", field="override_id")
    user = await users.get(session, user_id=override.user_id, team=None)
    last = _override_read(override, user)
    await session.delete(override)
    await session.flush()
    return last


# --- who is on call -------------------------------------------------------------------


def to_rota(schedule: OncallSchedule, overrides: list[ScheduleOverride]) -> rota.Schedule:
    """The stored schedule as shifts.py reads it."""
    return rota.Schedule(
        zone=ZoneInfo(schedule.time_zone),
        layers=tuple(_layer(LayerRead.model_validate(layer)) for layer in schedule.layers),
        overrides=tuple(rota.Override(str(o.user_id), o.starts_at, o.ends_at) for o in overrides),
    )


def _layer(layer: LayerRead) -> rota.Layer:
    handoff = datetime.min + clock_offset(layer.handoff_time)
    return rota.Layer(
        name=layer.name,
        participants=tuple(str(p) for p in layer.participants),
        shift_length=layer.shift_length,
        shift_unit=layer.shift_unit,
        handoff=handoff.time(),
        start_date=layer.start_date,
        restrictions=tuple(
            rota.Window(
                weekdays=frozenset(WEEKDAYS.index(day) for day in window.weekdays),
                start=clock_offset(window.start),
                end=clock_offset(window.end),
            )
            for window in layer.restrictions
        ),
    )


async def oncall(
    session: AsyncSession, *, schedule_id: uuid.UUID, team: str | None, at: datetime
) -> OnCallRead:
    [answer] = await oncall_of(session, [await get(session, schedule_id=schedule_id, team=team)], at=at)
    return answer


async def oncall_of(
    session: AsyncSession, found: Sequence[OncallSchedule], *, at: datetime
) -> list[OnCallRead]:
    """Who is on call at `at` in each of these schedules (at most a few
    hundred: the console's list), with two statements for all of them."""
    overrides = await overrides_of(
        session, [schedule.id for schedule in found], start=at, end=at + timedelta(microseconds=1)
    )
    on_call = [rota.oncall_at(to_rota(schedule, overrides[schedule.id]), at) for schedule in found]
    people = await users.by_ids(session, {uuid.UUID(user_id) for user_id in on_call if user_id is not None})
    answers = []
    for schedule, user_id in zip(found, on_call, strict=True):
        user = None if user_id is None else people.get(uuid.UUID(user_id))
        answers.append(
            OnCallRead(
                schedule_id=schedule.id,
                schedule=schedule.name,
                team=schedule.team,
                at=at,
                user=None if user is None else users.ref(user),
            )
        )
    return answers


async def user_on_call(session: AsyncSession, *, team: str, schedule_name: str, at: datetime) -> User | None:
    """Who a rule naming `schedule:<name>` in `team` reaches at `at`: the
    user (with contact_methods), or None when nobody is on call. For the
    routing and escalation that notify people; NotFound for no such schedule."""
    schedule: OncallSchedule | None = await session.scalar(
        select(OncallSchedule).where(OncallSchedule.team == team, OncallSchedule.name == schedule_name)
    )
    if schedule is None:
        raise NotFound(f"team {team!r} has no schedule named {schedule_name!r}", field="schedule")
    overrides = await _overrides(session, schedule, start=at, end=at + timedelta(microseconds=1))
    user_id = rota.oncall_at(to_rota(schedule, overrides), at)
    return None if user_id is None else await session.get(User, uuid.UUID(user_id))


def check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput("`to` must be after `from`", field="to")
    if end - start > MAX_RANGE:
        raise InvalidInput(f"at most {MAX_RANGE.days} days from `from` to `to`", field="to")


async def shifts_between(
    session: AsyncSession, *, schedule_id: uuid.UUID, team: str | None, start: datetime, end: datetime
) -> ShiftList:
    check_range(start, end)
    schedule = await get(session, schedule_id=schedule_id, team=team)
    overrides = await _overrides(session, schedule, start=start, end=end)
    found = rota.shifts(to_rota(schedule, overrides), start, end)
    people = await users.by_ids(session, {uuid.UUID(s.user) for s in found})
    return ShiftList(
        schedule_id=schedule.id,
        schedule=schedule.name,
        time_zone=schedule.time_zone,
        start=start,
        end=end,
        shifts=[
            ShiftRead(
                user=users.ref(people[uuid.UUID(s.user)]), start=s.start, end=s.end, sources=list(s.sources)
            )
            for s in found
            if uuid.UUID(s.user) in people  # a user deleted meanwhile: nobody
        ],
    )
