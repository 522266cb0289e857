"""Who the targets of escalation steps reach at one instant, read in bulk.

One tick of the escalation ticker may do a thousand steps naming the same
few hundred schedules. A `Reach` belongs to one tick (one instant): it reads
each schedule, its overrides in force and the people concerned once, with
a few statements for all the alerts of a batch, and answers from memory
after that. Nothing is kept past the tick, so a change to a schedule or a
user reaches the next step.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import OncallSchedule, User, UserTeam
from app.services.oncall import shifts as rota
from app.services.oncall.schedules import CHUNK, overrides_of, to_rota

_INSTANT = timedelta(microseconds=1)  # an override in force at `at` overlaps [at, at + 1 µs)

Key = tuple[str, str]  # (team, name)


@dataclass(frozen=True, slots=True)
class Person:
    """A user as a step needs them: read as columns, not ORM objects."""

    id: uuid.UUID
    name: str
    contact_methods: list[dict[str, Any]]


class NoSuchSchedule:
    """The answer for a schedule name its team does not have."""


NO_SUCH_SCHEDULE = NoSuchSchedule()


class Reach:
    def __init__(self, session: AsyncSession, *, at: datetime) -> None:
        self._session = session
        self._at = at
        self._schedules: dict[Key, Person | NoSuchSchedule | None] = {}
        self._users: dict[Key, Person | None] = {}  # (team, user name) -> the member, or None

    async def load(self, *, schedules: Iterable[Key] = (), users: Iterable[Key] = ()) -> None:
        """Read what is not known yet: the schedules' people on call, the
        named users who are members of those teams."""
        wanted_schedules = sorted(set(schedules) - self._schedules.keys())
        wanted_users = sorted(set(users) - self._users.keys())
        on_call = await self._on_call(wanted_schedules)
        ids = {user_id for user_id in on_call.values() if isinstance(user_id, uuid.UUID)}
        people = await self._people(ids, {name for _, name in wanted_users})
        by_id = {user.id: user for user in people}
        by_name = {user.name: user for user in people}
        for key in wanted_schedules:
            found = on_call.get(key, NO_SUCH_SCHEDULE)
            self._schedules[key] = by_id.get(found) if isinstance(found, uuid.UUID) else found
        named = [by_name[name] for _, name in wanted_users if name in by_name]
        teams = await self._teams(named, {team for team, _ in wanted_users})
        for team, name in wanted_users:
            user = by_name.get(name)
            self._users[(team, name)] = user if user is not None and team in teams.get(user.id, ()) else None

    def on_call(self, team: str, schedule: str) -> Person | NoSuchSchedule | None:
        """The user on call (loaded first), None for nobody, or NO_SUCH_SCHEDULE."""
        return self._schedules[(team, schedule)]

    def member(self, team: str, name: str) -> Person | None:
        """The user of that name if a member of `team` (loaded first)."""
        return self._users[(team, name)]

    async def _on_call(self, keys: list[Key]) -> dict[Key, uuid.UUID | None]:
        """Per schedule found, the id of who is on call (None: nobody)."""
        if not keys:
            return {}
        rows: list[OncallSchedule] = []
        teams = sorted({team for team, _ in keys})
        for first in range(0, len(keys), CHUNK):
            names = sorted({name for _, name in keys[first : first + CHUNK]})
            rows += await self._session.scalars(
                select(OncallSchedule).where(OncallSchedule.team.in_(teams), OncallSchedule.name.in_(names))
            )
        wanted = set(keys)
        found = {(row.team, row.name): row for row in rows if (row.team, row.name) in wanted}
        overrides = await overrides_of(
            self._session, [row.id for row in found.values()], start=self._at, end=self._at + _INSTANT
        )
        answers: dict[Key, uuid.UUID | None] = {}
        for key, schedule in found.items():
            user_id = rota.oncall_at(to_rota(schedule, overrides[schedule.id]), self._at)
            answers[key] = None if user_id is None else uuid.UUID(user_id)
        return answers

    async def _people(self, ids: set[uuid.UUID], names: set[str]) -> list[Person]:
        people: list[Person] = []
        columns = select(User.id, User.name, User.contact_methods)
        id_list, name_list = sorted(ids), sorted(names)
        for first in range(0, len(id_list), CHUNK):
            found = await self._session.execute(columns.where(User.id.in_(id_list[first : first + CHUNK])))
            people += [Person(*row) for row in found]
        for first in range(0, len(name_list), CHUNK):
            found = await self._session.execute(
                columns.where(User.name.in_(name_list[first : first + CHUNK]))
            )
            people += [Person(*row) for row in found]
        return people

    async def _teams(self, people: list[Person], teams: set[str]) -> dict[uuid.UUID, set[str]]:
        found: dict[uuid.UUID, set[str]] = {}
        ids = sorted({user.id for user in people})
        for first in range(0, len(ids), CHUNK):
            rows = await self._session.execute(
                select(UserTeam.user_id, UserTeam.team).where(
                    UserTeam.user_id.in_(ids[first : first + CHUNK]), UserTeam.team.in_(sorted(teams))
                )
            )
            for user_id, team in rows:
                found.setdefault(user_id, set()).add(team)
        return found
