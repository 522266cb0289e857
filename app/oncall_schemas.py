"""Request and response models of on call: users, schedules, overrides, shifts.

Every rule a single body can break is checked here, so that a 422 names the
field at fault (`layers.0.restrictions.1.end`); the rules that need the
database (a participant who is not a member of the team, a name taken) are
the services'.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from app.schemas import Instant, Moment, Name, Note
from app.settings import TEAM_PATTERN

# Names that rules can quote (`user:<name>`, `schedule:<name>`): one token,
# no spaces or slashes.
USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$"
SCHEDULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
MAX_LAYERS = 20
MAX_PARTICIPANTS = 100
MAX_RESTRICTIONS = 21
MAX_CONTACT_METHODS = 20
# Hours up to a year; days and weeks up to a year too.
MAX_SHIFT = {"hours": 24 * 366, "days": 366, "weeks": 53}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Team = Annotated[str, StringConstraints(pattern=TEAM_PATTERN)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ShiftUnit = Literal["hours", "days", "weeks"]
ContactType = Literal["email", "sms", "phone", "slack", "telegram", "webhook"]
UserName = Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN)]
ScheduleName = Annotated[str, StringConstraints(pattern=SCHEDULE_NAME_PATTERN)]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"unknown time zone {value[:64]!r}: use an IANA name such as Europe/Berlin or UTC")
    return value


TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_known_zone)]

_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def clock_offset(value: str) -> timedelta:
    """ "09:30" -> 9 h 30 min since local midnight."""
    found = _CLOCK.match(value)
    if found is None:
        raise ValueError(f"not a time of day: {value!r}")
    return timedelta(hours=int(found.group(1)), minutes=int(found.group(2)))


def _clock(value: str) -> str:
    if _CLOCK.match(value) is None or clock_offset(value) > timedelta(hours=24):
        raise ValueError(f"a local time of day as HH:MM, 00:00 to 24:00: {value[:20]!r}")
    return value


def _handoff(value: str) -> str:
    if clock_offset(_clock(value)) >= timedelta(hours=24):
        raise ValueError("a handoff time is 00:00 to 23:59")
    return value


# Schedules cover the years 1970 to 2200: far enough either way, and clear
# of the ends of Python's datetime, which a shift or a range near year 1 or
# 9999 would run past.
FIRST_YEAR, LAST_YEAR = 1970, 2200


def _in_years(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"on-call schedules cover the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


ScheduleDate = Annotated[date, AfterValidator(_in_years)]
# A point in time of a schedule: in a body (an override) or a query.
ScheduleInstant = Annotated[Instant, AfterValidator(_in_years)]
ScheduleMoment = Annotated[Moment, AfterValidator(_in_years)]

# Local wall-clock times as HH:MM; a restriction may end at 24:00.
ClockTime = Annotated[str, AfterValidator(_clock)]
HandoffTime = Annotated[str, AfterValidator(_handoff)]

_ADDRESS = {
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    "sms": re.compile(r"^\+[1-9]\d{6,14}$"),
    "phone": re.compile(r"^\+[1-9]\d{6,14}$"),
    "webhook": re.compile(r"^https?://\S+$"),
}
_ADDRESS_HINT = {
    "email": "an email address",
    "sms": "a phone number in E.164 form, e.g. +4915112345678",
    "phone": "a phone number in E.164 form, e.g. +4915112345678",
    "webhook": "an http(s) URL",
}


class ContactMethod(BaseModel):
    """One way to reach a user; the list is in the order to try them."""

    model_config = ConfigDict(extra="forbid")

    type: ContactType
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="email: an address; sms, phone: E.164 (+4915112345678); slack: a member ID; "
        "telegram: a chat ID; webhook: a URL.",
        examples=["alice@example.com"],
    )

    @field_validator("address")
    @classmethod
    def _address_fits(cls, value: str, info: ValidationInfo) -> str:
        pattern = _ADDRESS.get(str(info.data.get("type")))
        if pattern is not None and not pattern.match(value):
            raise ValueError(f"a {info.data['type']} address is {_ADDRESS_HINT[str(info.data['type'])]}")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("no control characters")
        return value


_Teams = Annotated[list[Team], Field(min_length=1, max_length=50)]
_Contacts = Annotated[list[ContactMethod], Field(max_length=MAX_CONTACT_METHODS)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: UserName = Field(description="Unique handle: letters, digits and . _ @ + -", examples=["alice"])
    full_name: Name | None = Field(default=None, examples=["Alice Example"])
    time_zone: TimeZone = Field(default="UTC", description="IANA zone name", examples=["Europe/Berlin"])
    teams: _Teams | None = Field(
        default=None,
        description="Teams the user belongs to; default: the key's team. A key of one team names only "
        "its own.",
        examples=[["payments"]],
    )
    contact_methods: _Contacts = Field(default_factory=list)


class UserUpdate(BaseModel):
    """A field given replaces the stored one; a field left out keeps it."""

    model_config = ConfigDict(extra="forbid")

    name: UserName | None = None
    full_name: Name | None = None
    time_zone: TimeZone | None = None
    teams: _Teams | None = Field(default=None, description="Only a key of every team changes a user's teams.")
    contact_methods: _Contacts | None = None


class UserRead(BaseModel):
    id: uuid.UUID
    name: str
    full_name: str | None
    time_zone: str
    teams: list[str]
    contact_methods: list[ContactMethod]
    created_at: datetime
    updated_at: datetime


class UserRef(BaseModel):
    id: uuid.UUID
    name: str
    full_name: str | None


class Restriction(BaseModel):
    """A weekly window when the layer is on: on each of `weekdays`, from
    `start` to `end` local time. Outside its windows the layer has nobody."""

    model_config = ConfigDict(extra="forbid")

    weekdays: list[Weekday] = Field(
        min_length=1, max_length=7, examples=[["mon", "tue", "wed", "thu", "fri"]]
    )
    start: ClockTime = Field(examples=["09:00"])
    end: ClockTime = Field(description="After `start`; 24:00 is the end of the day.", examples=["18:00"])

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: str, info: ValidationInfo) -> str:
        start = info.data.get("start")
        if start is not None and clock_offset(value) <= clock_offset(start):
            raise ValueError(
                f"end {value} is not after start {start}: a window spanning midnight is two windows "
                "(…-24:00 and 00:00-…)"
            )
        return value


class LayerBody(BaseModel):
    """A rotation: `participants` in turn, each for `shift_length` `shift_unit`,
    the first shift starting on `start_date` at `handoff_time` (local)."""

    model_config = ConfigDict(extra="forbid")

    name: ScheduleName | None = Field(
        default=None, description="Unique in the schedule; default layer-1, layer-2, ... by position."
    )
    participants: list[uuid.UUID] = Field(
        min_length=1, max_length=MAX_PARTICIPANTS, description="User ids, in turn; members of the team."
    )
    shift_unit: ShiftUnit = Field(
        description="days and weeks are calendar days in the schedule's zone (handoffs keep their local "
        "time across DST); hours are real hours.",
        examples=["weeks"],
    )
    shift_length: int = Field(ge=1, description="How many units one shift lasts: 1 or more.", examples=[1])
    handoff_time: HandoffTime = Field(description="Local time of day, HH:MM.", examples=["09:00"])
    start_date: ScheduleDate = Field(description="Local date of the first shift.", examples=["2026-01-05"])
    restrictions: list[Restriction] = Field(default_factory=list, max_length=MAX_RESTRICTIONS)

    @field_validator("shift_length")
    @classmethod
    def _not_too_long(cls, value: int, info: ValidationInfo) -> int:
        unit = info.data.get("shift_unit")
        if unit in MAX_SHIFT and value > MAX_SHIFT[unit]:
            raise ValueError(f"at most {MAX_SHIFT[unit]} {unit}")
        return value


class LayerRead(LayerBody):
    name: str


class _ScheduleFields(BaseModel):
    @field_validator("layers", check_fields=False)
    @classmethod
    def _named_uniquely(cls, layers: list[LayerBody] | None) -> list[LayerBody] | None:
        if layers is None:
            return None
        named = [
            layer.model_copy(update={"name": layer.name or f"layer-{i + 1}"})
            for i, layer in enumerate(layers)
        ]
        seen: set[str] = set()
        for layer in named:
            if layer.name in seen:
                raise ValueError(f"two layers are named {layer.name!r}")
            seen.add(str(layer.name))
        return named


class ScheduleCreate(_ScheduleFields):
    model_config = ConfigDict(extra="forbid")

    name: ScheduleName = Field(description="Unique in its team.", examples=["payments-primary"])
    team: Team | None = Field(
        default=None, description="Default: the key's team; a key of one team names only its own."
    )
    description: Note | None = None
    time_zone: TimeZone = Field(examples=["Europe/Berlin"])
    layers: list[LayerBody] = Field(
        default_factory=list, max_length=MAX_LAYERS, description="Bottom first: the last layer is on top."
    )


class ScheduleUpdate(_ScheduleFields):
    """A field given replaces the stored one (`layers` all of them); a field left out keeps it."""

    model_config = ConfigDict(extra="forbid")

    name: ScheduleName | None = None
    description: Note | None = None
    time_zone: TimeZone | None = None
    layers: list[LayerBody] | None = Field(default=None, max_length=MAX_LAYERS)


class ScheduleRead(BaseModel):
    id: uuid.UUID
    team: str
    name: str
    description: str | None
    time_zone: str
    layers: list[LayerRead]
    created_at: datetime
    updated_at: datetime


class EndsAfterStart(BaseModel):
    """A window of a subclass's `start` and `end` (declared in that order):
    `end` must come after `start`, or the 422 names `end`."""

    @field_validator("end", check_fields=False)
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError("end must be after start")
        return value


class OverrideCreate(EndsAfterStart):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID = Field(description="Who covers: a member of the schedule's team.")
    start: ScheduleInstant = Field(examples=["2026-01-05T09:00:00Z"])
    end: ScheduleInstant = Field(description="After `start`.", examples=["2026-01-05T18:00:00Z"])
    note: Note | None = None


class OverrideRead(BaseModel):
    id: uuid.UUID
    schedule_id: uuid.UUID
    user: UserRef
    start: datetime
    end: datetime
    note: str | None
    created_by: str
    created_at: datetime


class OnCallRead(BaseModel):
    schedule_id: uuid.UUID
    schedule: str
    team: str
    at: datetime
    user: UserRef | None = Field(description="Who is on call at `at`; null: nobody.")


class ShiftRead(BaseModel):
    user: UserRef
    start: datetime
    end: datetime
    sources: list[str] = Field(description='Why, in time order: layer names and/or "override".')


class ShiftList(BaseModel):
    schedule_id: uuid.UUID
    schedule: str
    time_zone: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    shifts: list[ShiftRead]

    model_config = ConfigDict(populate_by_name=True)
