"""Request and response models of routing: a team's escalation policies and
routes, and the answer of `POST /routes/test`.

A single body's shape is checked here (a target's syntax, ranges); the rules
that need the database or the configuration (a schedule of the team, a
member, a configured channel, a name taken) and those across fields (steps
in order, the repeat fields together) are the services', which name the
field at fault (`steps.1.notify.0`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.oncall_schemas import SCHEDULE_NAME_PATTERN, Team
from app.schemas import (
    MAX_LABELS,
    IncomingSeverity,
    LabelKey,
    LabelValue,
    Name,
    Note,
    SilenceMatcher,
)
from app.settings import Severity

MAX_STEPS = 20
MAX_TARGETS = 20
MAX_REPEATS = 100
MAX_ROUTE_CHANNELS = 32
MAX_ROUTE_MATCHERS = 256  # the settings' silence_max_matchers applies too (services/oncall/routes.py)
# A year, in minutes: farther than any escalation waits.
MAX_MINUTES = 60.0 * 24 * 366

# What a step notifies: `schedule:<name>` (of the policy's team), `user:<name>`
# (a member of it), `channel:<name>` or a bare name (a configured channel).
TARGET_KINDS = ("schedule", "user", "channel")
TargetKind = Literal["schedule", "user", "channel"]
Target = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f\s]+$"),
]
RoutingName = Annotated[str, StringConstraints(pattern=SCHEDULE_NAME_PATTERN)]
Minutes = Annotated[float, Field(ge=0, le=MAX_MINUTES)]


@dataclass(frozen=True, slots=True)
class ParsedTarget:
    kind: TargetKind
    name: str


def parse_target(target: str) -> ParsedTarget:
    """`schedule:primary` -> (schedule, primary); `ops-email` and
    `channel:ops-email` -> (channel, ops-email)."""
    prefix, sep, rest = target.partition(":")
    if sep and prefix in TARGET_KINDS and rest:
        return ParsedTarget(prefix, rest)  # type: ignore[arg-type]  # checked: one of TARGET_KINDS
    return ParsedTarget("channel", target)


# --- escalation policies ----------------------------------------------------------------


class PolicyStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after_minutes: Minutes = Field(
        description="Minutes after the alert triggered (created or reopened); not less than the step before.",
        examples=[0],
    )
    notify: list[Target] = Field(
        min_length=1,
        max_length=MAX_TARGETS,
        description="`schedule:<name>` (whoever is on call then), `user:<name>`, `channel:<name>` or a "
        "bare channel name.",
        examples=[["schedule:payments-primary", "ops-email"]],
    )


_Steps = Annotated[list[PolicyStep], Field(min_length=1, max_length=MAX_STEPS)]
_Repeats = Annotated[int, Field(ge=0, le=MAX_REPEATS)]
_Every = Annotated[float, Field(gt=0, le=MAX_MINUTES)]


class PolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RoutingName = Field(description="Unique in its team.", examples=["payments-critical"])
    team: Team | None = Field(
        default=None, description="Default: the key's team; a key of one team names only its own."
    )
    description: Note | None = None
    steps: _Steps
    repeat_last_step: _Repeats = Field(default=0, description="How many times the last step is done again.")
    repeat_every_minutes: _Every | None = Field(
        default=None,
        description="Minutes between repeats of the last step; required when repeat_last_step > 0.",
    )


class PolicyUpdate(BaseModel):
    """A field given replaces the stored one (`steps`: all of them); a field left out keeps it."""

    model_config = ConfigDict(extra="forbid")

    name: RoutingName | None = None
    description: Note | None = None
    steps: _Steps | None = None
    repeat_last_step: _Repeats | None = None
    repeat_every_minutes: _Every | None = None


class PolicyRead(BaseModel):
    id: uuid.UUID
    team: str
    name: str
    description: str | None
    steps: list[PolicyStep]
    repeat_last_step: int
    repeat_every_minutes: float | None
    created_at: datetime
    updated_at: datetime


class PolicyRef(BaseModel):
    id: uuid.UUID
    name: str


class RouteRef(BaseModel):
    id: uuid.UUID
    name: str


# --- routes --------------------------------------------------------------------------


class _RouteFields(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


_Matchers = Annotated[list[SilenceMatcher], Field(max_length=MAX_ROUTE_MATCHERS)]
_Channels = Annotated[list[Name], Field(max_length=MAX_ROUTE_CHANNELS)]
_Position = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


class RouteCreate(_RouteFields):
    name: RoutingName = Field(description="Unique in its team.", examples=["payments-prod-critical"])
    team: Team | None = Field(
        default=None, description="Default: the key's team; a key of one team names only its own."
    )
    position: _Position | None = Field(
        default=None,
        description="Order: lower first, ties by creation. Default: after the team's last route.",
    )
    matchers: _Matchers = Field(
        default_factory=list,
        description='The silences\' syntax; every matcher must match (a missing label reads as ""). None: '
        "every alert of the team.",
    )
    escalation_policy_id: uuid.UUID | None = Field(
        default=None, description="A policy of the route's team; or name it with `escalation_policy`."
    )
    escalation_policy: RoutingName | None = Field(
        default=None, description="The policy's name, instead of `escalation_policy_id`."
    )
    channels: _Channels = Field(
        default_factory=list,
        description="Configured channel names; replace default_channels for an alert that names none.",
    )
    continue_matching: bool = Field(
        default=False, alias="continue", description="Try the later routes too, and add their channels."
    )


class RouteUpdate(_RouteFields):
    """A field given replaces the stored one; a field left out keeps it. A
    null `escalation_policy_id` (or `escalation_policy`) takes the policy off."""

    name: RoutingName | None = None
    position: _Position | None = None
    matchers: _Matchers | None = None
    escalation_policy_id: uuid.UUID | None = None
    escalation_policy: RoutingName | None = None
    channels: _Channels | None = None
    continue_matching: bool | None = Field(default=None, alias="continue")


class RouteRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: uuid.UUID
    team: str
    name: str
    position: int
    matchers: list[SilenceMatcher]
    escalation_policy_id: uuid.UUID | None
    escalation_policy: str | None = Field(description="The policy's name.")
    channels: list[str]
    continue_matching: bool = Field(alias="continue")
    created_at: datetime
    updated_at: datetime


class RouteTest(BaseModel):
    """An example alert: which routes would take it."""

    model_config = ConfigDict(extra="forbid")

    team: Team | None = Field(
        default=None, description="Default: the key's team (keys of every team name one)."
    )
    alert_type: Name = Field(default="example", examples=["disk_full"])
    source: Name = Field(default="example", examples=["db-1"])
    severity: IncomingSeverity = Field(examples=["critical"])
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=MAX_LABELS)
    channels: _Channels | None = Field(
        default=None, description="As a submission's: named channels win over the routes'."
    )


class RouteTestRead(BaseModel):
    team: str
    severity: Severity
    routes: list[RouteRef] = Field(description="The routes that matched, in order (id, name).")
    escalation_policy: PolicyRef | None = Field(
        description="The policy chosen; null: the configured [escalation] policy."
    )
    channels: list[str] = Field(description="The alert's channels.")
