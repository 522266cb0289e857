"""A team's whole on-call configuration as one document (GET /oncall/export,
POST /oncall/import), written as TOML (app/oncall_toml.py).

Everything is named, never numbered: participants, override users and
policy targets by user name, a route's policy by its name. So a document
moves between installations, and lives in git as text a reviewer can read.

These models check what one document can get wrong on its own field by
field (types, zones, clock times, shift lengths), reusing the types of the
on-call API, so that a 422 names the path (`schedules.0.layers.1.shift_length`).
What needs the whole document or the database (a participant who is not
one of the document's users, a channel that is not configured, a name
taken twice) is services/oncall/import_checks.py.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from app.oncall_schemas import (
    MAX_CONTACT_METHODS,
    MAX_LAYERS,
    MAX_PARTICIPANTS,
    ContactMethod,
    EndsAfterStart,
    LayerBody,
    ScheduleInstant,
    ScheduleName,
    Team,
    TimeZone,
    UserName,
    _ScheduleFields,
)
from app.routing_schemas import MAX_MINUTES, MAX_REPEATS, MAX_STEPS, MAX_TARGETS  # a policy: as over the API
from app.schemas import Name, Note, SilenceMatcher

MAX_USERS = 1_000
MAX_SCHEDULES = 200
MAX_OVERRIDES = 500
MAX_POLICIES = 200
MAX_ROUTES = 500
MAX_MATCHERS = 32
MAX_ROUTE_CHANNELS = 20

# A policy's and a route's name, like a schedule's: one token a rule can quote.
PolicyName = ScheduleName
RouteName = ScheduleName
# `schedule:<name>`, `user:<name>`, `channel:<name>`, or a bare channel name.
Target = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\x00-\x20\x7f]+$")]
ChannelName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentUser(_Part):
    """A member of the team. Matched by `name` on import: created, or
    updated and joined to the team."""

    name: UserName
    full_name: Name | None = None
    time_zone: TimeZone = "UTC"
    contact_methods: list[ContactMethod] = Field(default_factory=list, max_length=MAX_CONTACT_METHODS)


class DocumentLayer(LayerBody):
    """A rotation layer whose participants are user names."""

    participants: list[UserName] = Field(  # type: ignore[assignment]  # names here, ids in the API
        min_length=1, max_length=MAX_PARTICIPANTS, description="User names, in turn."
    )


class DocumentOverride(_Part, EndsAfterStart):
    """`user` covers from `start` to `end`; of two overlapping overrides the
    later in the list wins."""

    user: UserName
    start: ScheduleInstant
    end: ScheduleInstant
    note: Note | None = None


class DocumentSchedule(_ScheduleFields):
    model_config = ConfigDict(extra="forbid")

    name: ScheduleName
    description: Note | None = None
    time_zone: TimeZone
    layers: list[DocumentLayer] = Field(default_factory=list, max_length=MAX_LAYERS)
    overrides: list[DocumentOverride] = Field(default_factory=list, max_length=MAX_OVERRIDES)


class DocumentStep(_Part):
    after_minutes: float = Field(ge=0, le=MAX_MINUTES, description="Since the alert triggered.")
    notify: list[Target] = Field(min_length=1, max_length=MAX_TARGETS)


class DocumentPolicy(_Part):
    name: PolicyName
    description: Note | None = None
    repeat_last_step: int = Field(default=0, ge=0, le=MAX_REPEATS)
    repeat_every_minutes: float | None = Field(default=None, gt=0, le=MAX_MINUTES, validate_default=True)
    steps: list[DocumentStep] = Field(min_length=1, max_length=MAX_STEPS)

    @field_validator("repeat_every_minutes")
    @classmethod
    def _given_for_repeats(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None and info.data.get("repeat_last_step"):
            raise ValueError("repeat_last_step above 0 needs repeat_every_minutes")
        return value

    @field_validator("steps")
    @classmethod
    def _in_time_order(cls, steps: list[DocumentStep]) -> list[DocumentStep]:
        for before, after in pairwise(steps):
            if after.after_minutes < before.after_minutes:
                raise ValueError("steps are in time order: after_minutes never decreases")
        return steps


class DocumentRoute(_Part):
    name: RouteName
    matchers: list[SilenceMatcher] = Field(default_factory=list, max_length=MAX_MATCHERS)
    escalation_policy: PolicyName | None = Field(
        default=None, description="A policy of the document, by name."
    )
    channels: list[ChannelName] = Field(default_factory=list, max_length=MAX_ROUTE_CHANNELS)
    continue_matching: bool = Field(default=False, alias="continue")


class OncallDocument(_Part):
    """One team's users, schedules (with their overrides that have not
    ended), escalation policies and routes (in the order they are tried)."""

    team: Team
    users: list[DocumentUser] = Field(default_factory=list, max_length=MAX_USERS)
    schedules: list[DocumentSchedule] = Field(default_factory=list, max_length=MAX_SCHEDULES)
    escalation_policies: list[DocumentPolicy] = Field(default_factory=list, max_length=MAX_POLICIES)
    routes: list[DocumentRoute] = Field(default_factory=list, max_length=MAX_ROUTES)


# --- what an import changes -----------------------------------------------------------


class ImportChanges(BaseModel):
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)


class ImportUserChanges(ImportChanges):
    joined: list[str] = Field(default_factory=list, description="Existing users who join the team.")
    left: list[str] = Field(
        default_factory=list, description="Members not in the document who stay in their other teams."
    )


class ImportOverrideChanges(BaseModel):
    created: int = 0
    deleted: int = 0


class OncallImportRead(BaseModel):
    """What the import changed (or, with `dry_run`, would change), by name and kind."""

    team: str
    dry_run: bool
    changed: bool = Field(description="False: the document is what is stored; nothing was written.")
    users: ImportUserChanges
    schedules: ImportChanges
    overrides: ImportOverrideChanges = Field(
        description="Overrides that have not ended, replaced per schedule."
    )
    escalation_policies: ImportChanges
    routes: ImportChanges
