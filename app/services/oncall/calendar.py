"""A schedule's shifts as an iCalendar feed, for calendar apps to subscribe to.

Calendar apps fetch a URL and send no header, so the link carries its own
credential: `?token=`, the schedule's id and its `calendar_key` signed with
a secret the service keeps in the database (db/secrets.py), so that every
replica accepts every link. A link never expires (a subscription is meant
to last); making a new link gives the schedule a new key, which revokes
every link made before. A bad or revoked token is a 404, as an unknown
schedule is.

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
from app.models import OncallSchedule
from app.oncall_schemas import ShiftList
from app.services.oncall import schedules

SALT = "alerts-calendar-feed"
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
    calendar = Calendar()
    calendar.add("prodid", "-//alert-service//on call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"On call: {schedule.name} ({schedule.team})")
    calendar.add("x-wr-timezone", schedule.time_zone)
    for shift in found.shifts:
        event = Event()
        event.add("uid", f"{schedule.id}-{shift.user.id}-{int(shift.start.timestamp())}@alert-service")
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call: {shift.user.full_name or shift.user.name}")
        event.add("description", f"{schedule.name} ({schedule.team}): {', '.join(shift.sources)}")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
