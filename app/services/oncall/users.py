"""Users who can be on call, and the teams they belong to.

A user belongs to one or more teams. `team` in these functions is the one
team the caller is confined to, or None for a caller of every team: a
confined caller sees the users of its team only (another's is not found),
creates users in its team, and leaves their memberships to a key of every
team. A user still named in a schedule of a team, or covering an override
that has not ended, or named by an escalation policy of the team, stays in
that team (and is not deleted, nor renamed while a policy names them): the
schedule or policy would otherwise point at nobody.

Functions flush, never commit: the route owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Forbidden, NotFound
from app.models import OncallSchedule, ScheduleOverride, User, UserTeam
from app.oncall_schemas import ContactMethod, UserCreate, UserRead, UserRef, UserUpdate
from app.services.oncall import references


async def teams_of(session: AsyncSession, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = {user_id: [] for user_id in user_ids}
    if user_ids:
        rows = await session.execute(
            select(UserTeam.user_id, UserTeam.team)
            .where(UserTeam.user_id.in_(list(user_ids)))
            .order_by(UserTeam.team)
        )
        for user_id, team in rows:
            found[user_id].append(team)
    return found


def read(user: User, teams: Sequence[str]) -> UserRead:
    return UserRead(
        id=user.id,
        name=user.name,
        full_name=user.full_name,
        time_zone=user.time_zone,
        teams=sorted(teams),
        contact_methods=[ContactMethod.model_validate(c) for c in user.contact_methods],
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def ref(user: User) -> UserRef:
    return UserRef(id=user.id, name=user.name, full_name=user.full_name)


async def get(session: AsyncSession, *, user_id: uuid.UUID, team: str | None, lock: bool = False) -> User:
    """A user the caller may see; another team's is not found."""
    query = select(User).where(User.id == user_id)
    if team is not None:
        query = query.where(User.id.in_(select(UserTeam.user_id).where(UserTeam.team == team)))
    if lock:
        query = query.with_for_update()
    found: User | None = await session.scalar(query)
    if found is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    return found


async def by_name(session: AsyncSession, *, name: str, team: str | None) -> User | None:
    """The user a rule naming `user:<name>` reaches (within `team`, unless None)."""
    query = select(User).where(User.name == name)
    if team is not None:
        query = query.where(User.id.in_(select(UserTeam.user_id).where(UserTeam.team == team)))
    found: User | None = await session.scalar(query)
    return found


async def by_ids(session: AsyncSession, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(list(user_ids))))
    return {user.id: user for user in rows}


async def members(session: AsyncSession, *, team: str, user_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `user_ids` who belong to `team`."""
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(UserTeam.user_id).where(UserTeam.team == team, UserTeam.user_id.in_(list(user_ids)))
    )
    return set(rows)


async def list_users(session: AsyncSession, *, team: str | None, limit: int) -> list[UserRead]:
    query = select(User).order_by(User.name).limit(limit)
    if team is not None:
        query = query.where(User.id.in_(select(UserTeam.user_id).where(UserTeam.team == team)))
    users = list(await session.scalars(query))
    teams = await teams_of(session, [u.id for u in users])
    return [read(u, teams[u.id]) for u in users]


def _own_team_only(teams: Sequence[str] | None, *, confined: str | None) -> None:
    if confined is not None and teams is not None and set(teams) != {confined}:
        raise Forbidden(f"a key of team {confined!r} puts users in its own team only", field="teams")


async def _name_free(session: AsyncSession, name: str, *, other_than: uuid.UUID | None = None) -> None:
    taken = await session.scalar(select(User.id).where(User.name == name))
    if taken is not None and taken != other_than:
        raise Conflict(f"a user named {name!r} exists already", field="name")


async def create(
    session: AsyncSession, *, data: UserCreate, team: str | None, home_team: str, now: datetime
) -> UserRead:
    _own_team_only(data.teams, confined=team)
    await _name_free(session, data.name)
    teams = sorted(set(data.teams or [home_team]))
    user = User(
        id=uuid.uuid4(),
        name=data.name,
        full_name=data.full_name,
        time_zone=data.time_zone,
        contact_methods=[c.model_dump() for c in data.contact_methods],
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
            session.add_all(UserTeam(user_id=user.id, team=t) for t in teams)
    except IntegrityError:  # the same name, committed between our check and our insert
        raise Conflict(f"a user named {data.name!r} exists already", field="name") from None
    return read(user, teams)


async def update(
    session: AsyncSession, *, user_id: uuid.UUID, data: UserUpdate, team: str | None, now: datetime
) -> UserRead:
    user = await get(session, user_id=user_id, team=team, lock=True)
    current = (await teams_of(session, [user.id]))[user.id]
    if data.name is not None and data.name != user.name:
        await _name_free(session, data.name, other_than=user.id)
        await references.refuse_if_named(
            session, teams=current, kind="user", name=user.name, doing="rename the user", field="name"
        )
        user.name = data.name
    if "full_name" in data.model_fields_set:
        user.full_name = data.full_name
    if data.time_zone is not None:
        user.time_zone = data.time_zone
    if data.contact_methods is not None:
        user.contact_methods = [c.model_dump() for c in data.contact_methods]
    if data.teams is not None and set(data.teams) != set(current):
        if team is not None:
            raise Forbidden("only a key of every team changes a user's teams", field="teams")
        for left in set(current) - set(data.teams):
            await _not_needed_by(session, user, team=left, now=now)
        await session.execute(delete(UserTeam).where(UserTeam.user_id == user.id))
        await session.flush()
        session.add_all(UserTeam(user_id=user.id, team=t) for t in sorted(set(data.teams)))
        current = sorted(set(data.teams))
    user.updated_at = now
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"a user named {data.name!r} exists already", field="name") from None
    return read(user, current)


async def delete_user(
    session: AsyncSession, *, user_id: uuid.UUID, team: str | None, now: datetime
) -> UserRead:
    user = await get(session, user_id=user_id, team=team, lock=True)
    current = (await teams_of(session, [user.id]))[user.id]
    if team is not None and set(current) != {team}:
        others = ", ".join(t for t in current if t != team)
        raise Conflict(
            f"user {user.name!r} belongs to other teams too ({others}): a key of every team deletes them",
            field="teams",
        )
    for each in current:
        await _not_needed_by(session, user, team=each, now=now)
    last = read(user, current)
    # Past overrides go with the user (ON DELETE CASCADE), and so do memberships.
    await session.delete(user)
    await session.flush()
    return last


async def _not_needed_by(session: AsyncSession, user: User, *, team: str, now: datetime) -> None:
    """Conflict when a schedule of `team` still names the user, in a layer or
    in an override that has not ended, or a policy of `team` notifies them."""
    await references.refuse_if_named(
        session,
        teams=[team],
        kind="user",
        name=user.name,
        doing=f"take the user out of team {team!r}",
        field="teams",
    )
    schedules = list(await session.scalars(select(OncallSchedule).where(OncallSchedule.team == team)))
    named = sorted(
        s.name for s in schedules if any(str(user.id) in layer.get("participants", []) for layer in s.layers)
    )
    if named:
        raise Conflict(
            f"user {user.name!r} is a participant of schedule(s) {', '.join(named)} of team {team!r}: "
            "take them out of the layers first",
            field="teams",
        )
    covering = await session.scalar(
        select(OncallSchedule.name)
        .join(ScheduleOverride, ScheduleOverride.schedule_id == OncallSchedule.id)
        .where(OncallSchedule.team == team, ScheduleOverride.user_id == user.id)
        .where(ScheduleOverride.ends_at > now)
        .limit(1)
    )
    if covering is not None:
        raise Conflict(
            f"user {user.name!r} covers an override of schedule {covering!r} that has not ended: delete it first",
            field="teams",
        )
