"""The console's on-call pages: the team's schedules with who is on call
now, and one schedule's next two weeks, day by day.

Thin, like the other pages: every answer comes from services/oncall (the
shifts from shifts.py through schedules.shifts_between, who is on call now
from schedules.oncall, the overrides from schedules.list_overrides), and a
key of one team sees its team's schedules only (another team's is a 404), as
on GET /schedules. timeline.py only lays the shifts out by local day.

`?from=YYYY-MM-DD` shows the two weeks from that local date (default: today
in the schedule's zone), so a page about any fortnight can be linked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import team_to_read
from app.api.deps import NowDep, SessionmakerDep
from app.db import transaction
from app.errors import InvalidInput
from app.oncall_schemas import LayerRead, OnCallRead, OverrideRead, ScheduleRead, ShiftList
from app.services.oncall import schedules, users
from app.services.oncall.shifts import local_date
from app.ui.alerts import ConsoleCaller
from app.ui.routing import ConsoleRoute
from app.ui.templating import render
from app.ui.timeline import DAYS, clock, colours, lay_out, range_of, span

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=ConsoleRoute)

LIST_LIMIT = 500
FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(9000, 1, 1)


@router.get("/schedules", response_class=HTMLResponse)
async def schedule_list(
    request: Request,
    caller: ConsoleCaller,
    sessionmaker: SessionmakerDep,
    now: NowDep,
    team: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    shown_team = team_to_read(caller, team.strip() or None)

    async def work(session: AsyncSession) -> list[tuple[ScheduleRead, OnCallRead]]:
        rows = await schedules.list_schedules(session, team=shown_team, limit=LIST_LIMIT)
        on_call = await schedules.oncall_of(session, rows, at=now)
        return [(schedules.read(row), now_on) for row, now_on in zip(rows, on_call, strict=True)]

    found = await transaction.read(sessionmaker, work)
    context = {"schedules": found, "team": team.strip(), "now": now, "limit": LIST_LIMIT}
    return await render(request, "schedules.html", context, caller=caller)


@dataclass(frozen=True, slots=True)
class Fortnight:
    schedule: ScheduleRead
    first: date  # the first local day shown
    shifts: ShiftList
    overrides: list[OverrideRead]
    on_call: OnCallRead
    people: dict[uuid.UUID, str]  # the layers' participants: id -> name


def _first_day(asked: str, zone: ZoneInfo, now: datetime) -> date:
    if not asked:
        return local_date(now, zone)
    try:
        day = date.fromisoformat(asked)
    except ValueError:
        raise InvalidInput("from is not a date (YYYY-MM-DD)", field="from") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"from is a date from {FIRST_DAY} to {LAST_DAY}", field="from")
    return day


@router.get("/schedules/{schedule_id}", response_class=HTMLResponse)
async def schedule_page(
    schedule_id: uuid.UUID,
    request: Request,
    caller: ConsoleCaller,
    sessionmaker: SessionmakerDep,
    now: NowDep,
    asked: Annotated[str, Query(alias="from", max_length=10)] = "",
) -> HTMLResponse:
    team = caller.confined_to

    async def work(session: AsyncSession) -> Fortnight:
        row = await schedules.get(session, schedule_id=schedule_id, team=team)
        zone = ZoneInfo(row.time_zone)
        first = _first_day(asked.strip(), zone, now)
        start, end = range_of(first, zone)
        layers = [LayerRead.model_validate(layer) for layer in row.layers]
        people = await users.by_ids(session, {p for layer in layers for p in layer.participants})
        return Fortnight(
            schedule=schedules.read(row),
            first=first,
            shifts=await schedules.shifts_between(
                session, schedule_id=schedule_id, team=team, start=start, end=end
            ),
            overrides=await schedules.list_overrides(
                session, schedule_id=schedule_id, team=team, start=start, end=end
            ),
            on_call=await schedules.oncall(session, schedule_id=schedule_id, team=team, at=now),
            people={user_id: user.name for user_id, user in people.items()},
        )

    found = await transaction.read(sessionmaker, work)
    first = found.first
    zone = ZoneInfo(found.schedule.time_zone)
    today = local_date(now, zone)
    context = {
        "schedule": found.schedule,
        "zone": zone,
        "days": lay_out(found.shifts.shifts, first=first, zone=zone, now=now),
        "shifts": found.shifts.shifts,
        "overrides": found.overrides,
        "on_call": found.on_call,
        "current": next((s for s in found.shifts.shifts if s.start <= now < s.end), None),
        "range_end": found.shifts.end,
        "people": found.people,
        "colours": colours(found.shifts.shifts),
        "now": now,
        "first": first,
        "last": first + timedelta(days=DAYS - 1),
        "earlier": first - timedelta(days=DAYS),
        "later": first + timedelta(days=DAYS),
        "today": today,
        "clock": clock,
        "span": span,
    }
    return await render(request, "schedule.html", context, caller=caller)
