"""A schedule's shifts, or one person's shifts in every schedule of their
teams, as an iCalendar feed, for calendar apps to subscribe to.

Calendar apps fetch a URL and send no header, so the link carries its own
credential: `?token=`, the schedule's (or the user's) id and its
`calendar_key` signed with a secret the service keeps in the database
(db/secrets.py), so that every replica accepts every link. A user's link
also signs the team it was made for (None: a key of every team made it, and
it covers all the user's teams), so a key of one team never hands out
another team's schedules. A link never expires (a subscription is meant to
last); making a new link gives the schedule (or user) a new key, which
revokes every link made before. A bad or revoked token is a 404, as an
unknown schedule or user is. Schedules and users sign with salts of their
own: one's token is no token of the other.

The feed holds the shifts from a week ago to twelve weeks ahead, one event
per shift, in UTC; the event's UID is stable for a shift that does not
change, so apps update rather than duplicate.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import OncallSchedule, User
from app.oncall_schemas import ShiftList
from app.services.oncall import schedules, users
from app.services.oncall import shifts as rota

SALT = "alerts-calendar-feed"
USER_SALT = "alerts-calendar-feed-user"
BEHIND = timedelta(days=7)
AHEAD = timedelta(days=83)  # with BEHIND, the longest range `shifts` allows


def token(secret: str, schedule: OncallSchedule) -> str:
    if schedule.calendar_key is None:
        raise NotFound(f"schedule {schedule.name!r} has no calendar link yet: make one", field="schedule_id")
    return URLSafeSerializer(secret, salt=SALT).dumps([str(schedule.id), schedule.calendar_key])


async def new_link_key(session: AsyncSession, *, schedule_id: uuid.UUID, team: str | None) -> OncallSchedule:
    """A new key for the schedule's link: links made before stop working."""
    schedule = await schedules.get(session, schedule_id=schedule_id, team=team, lock=True)
    schedule.calendar_key = secrets.token_urlsafe(16)
    await session.flush()
    return schedule


async def verified(
    session: AsyncSession, *, schedule_id: uuid.UUID, token: str, secret: str
) -> OncallSchedule:
    """The schedule whose link this token is; NotFound for any other token."""
    refused = NotFound("unknown or revoked calendar link", field="token")
    try:
        signed_id, key = URLSafeSerializer(secret, salt=SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise refused from None
    if signed_id != str(schedule_id):
        raise refused
    try:
        schedule = await schedules.get(session, schedule_id=schedule_id, team=None)
    except NotFound:
        raise refused from None
    if schedule.calendar_key is None or not secrets.compare_digest(str(key), schedule.calendar_key):
        raise refused
    return schedule


async def feed(session: AsyncSession, *, schedule: OncallSchedule, now: datetime) -> bytes:
    found = await schedules.shifts_between(
        session, schedule_id=schedule.id, team=None, start=now - BEHIND, end=now + AHEAD
    )
    return render(schedule, found, now=now)


def render(schedule: OncallSchedule, found: ShiftList, *, now: datetime) -> bytes:
    calendar = _calendar(f"On call: {schedule.name} ({schedule.team})", schedule.time_zone)
    for shift in found.shifts:
        calendar.add_component(
            _event(
                uid=f"{schedule.id}-{shift.user.id}-{int(shift.start.timestamp())}@alert-service",
                now=now,
                start=shift.start,
                end=shift.end,
                summary=f"On call: {shift.user.full_name or shift.user.name}",
                description=f"{schedule.name} ({schedule.team}): {', '.join(shift.sources)}",
            )
        )
    data: bytes = calendar.to_ical()
    return data


def _calendar(name: str, time_zone: str) -> Calendar:
    """An empty feed named for a calendar app's list."""
    calendar = Calendar()
    calendar.add("prodid", "-//alert-service//on call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", time_zone)
    return calendar


def _event(
    *, uid: str, now: datetime, start: datetime, end: datetime, summary: str, description: str
) -> Event:
    """One shift, shown free (TRANSPARENT) so it does not block the person's time."""
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    return event


# --- a person's own feed ------------------------------------------------------


def user_token(secret: str, user: User, *, team: str | None) -> str:
    if user.calendar_key is None:
        raise NotFound(f"user {user.name!r} has no calendar link yet: make one", field="user_id")
    return URLSafeSerializer(secret, salt=USER_SALT).dumps([str(user.id), user.calendar_key, team])


async def new_user_link_key(session: AsyncSession, *, user_id: uuid.UUID, team: str | None) -> User:
    """A new key for the user's links: every link made before stops working."""
    user = await users.get(session, user_id=user_id, team=team, lock=True)
    user.calendar_key = secrets.token_urlsafe(16)
    await session.flush()
    return user


async def verified_user(
    session: AsyncSession, *, user_id: uuid.UUID, token: str, secret: str
) -> tuple[User, str | None]:
    """The user whose link this token is, and the team the link was made for
    (None: every team of the user); NotFound for any other token."""
    refused = NotFound("unknown or revoked calendar link", field="token")
    try:
        signed_id, key, team = URLSafeSerializer(secret, salt=USER_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise refused from None
    if signed_id != str(user_id) or not (team is None or isinstance(team, str)):
        raise refused
    try:
        user = await users.get(session, user_id=user_id, team=None)
    except NotFound:
        raise refused from None
    if user.calendar_key is None or not secrets.compare_digest(str(key), user.calendar_key):
        raise refused
    return user, team


async def user_feed(session: AsyncSession, *, user: User, team: str | None, now: datetime) -> bytes:
    """The user's shifts in every schedule of their teams (of `team` alone
    when the link was made for one), each schedule's overrides counted."""
    start, end = now - BEHIND, now + AHEAD
    teams = (await users.teams_of(session, [user.id]))[user.id]
    found: list[tuple[OncallSchedule, rota.Shift]] = []
    for each in teams if team is None else [t for t in teams if t == team]:
        listed = await schedules.list_schedules(session, team=each, limit=schedules.CHUNK)
        overrides = await schedules.overrides_of(session, [s.id for s in listed], start=start, end=end)
        for schedule in listed:
            for shift in rota.shifts(schedules.to_rota(schedule, overrides[schedule.id]), start, end):
                if shift.user == str(user.id):
                    found.append((schedule, shift))
    return render_user(
        user, sorted(found, key=lambda pair: (pair[1].start, pair[0].team, pair[0].name)), now=now
    )


def render_user(user: User, found: list[tuple[OncallSchedule, rota.Shift]], *, now: datetime) -> bytes:
    calendar = _calendar(f"On call: {user.full_name or user.name}", user.time_zone)
    for schedule, shift in found:
        calendar.add_component(
            _event(
                uid=f"{schedule.id}-{user.id}-{int(shift.start.timestamp())}@alert-service",
                now=now,
                start=shift.start,
                end=shift.end,
                summary=f"On call: {schedule.name} ({schedule.team})",
                description=", ".join(shift.sources),
            )
        )
    data: bytes = calendar.to_ical()
    return data
