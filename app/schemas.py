"""Request and response models. Names say their role: Create, Read, Page, ..."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from app.details import check_details
from app.settings import SEVERITIES, SEVERITY_ALIASES, Severity, canonical_severity

Status = Literal["open", "acknowledged", "in_progress", "resolved", "closed", "reopened"]
Outcome = Literal["created", "duplicate", "reopened"]

MAX_LABELS = 64
MAX_MESSAGE_CHARS = 8_000

# Printable text: no control characters except tab and newline in free text.
_NAME = r"^[^\x00-\x1f\x7f]+$"
_TEXT = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
NAME_PATTERN = _NAME
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NAME)]
Actor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NAME)]
Note = Annotated[str, StringConstraints(max_length=MAX_MESSAGE_CHARS, pattern=_TEXT)]
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NAME)]
LabelValue = Annotated[str, StringConstraints(max_length=1_000, pattern=_NAME + "|^$")]

_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")


def _not_a_number(value: object) -> object:
    # Pydantic would read "1700000000" or "0.5" as a Unix time; a filter
    # is an ISO 8601 date-time, as the spec says, or a clear 422.
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError("use an ISO 8601 date-time with a time zone, e.g. 2026-01-05T09:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


# A point in time in a body: with a time zone, in range once in UTC (year 1
# at +14:00 is not, nor year 9999 at -14:00), and kept in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# A query's point in time: ISO 8601 with a time zone, in range once in UTC.
Moment = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc)]


def _severity_word(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the type check answers
    canonical = canonical_severity(value)
    if canonical is None:
        aliases = ", ".join(sorted(set(SEVERITY_ALIASES) - set(SEVERITIES)))
        raise ValueError(
            f"unknown severity {value[:50]!r}: use one of {', '.join(SEVERITIES)} (or {aliases})"
        )
    return canonical


# A severity as other tools write it (any case, `warning`, `error`, ...);
# stored and answered as one of the five canonical names.
IncomingSeverity = Annotated[
    Severity,
    BeforeValidator(_severity_word),
    Field(description="info, low, medium, high or critical; aliases such as warning or error are accepted"),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertCreate(_Input):
    """A submission. Identity is alert_type + source + labels, or dedup_key."""

    alert_type: Name = Field(examples=["disk_full"])
    severity: IncomingSeverity = Field(examples=["high"])
    message: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS, pattern=_TEXT)] = (
        Field(examples=["/var is 93% full"])
    )
    source: Name = Field(examples=["db-1"])
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, max_length=MAX_LABELS, examples=[{"mount": "/var"}]
    )
    details: Annotated[dict[str, Any], AfterValidator(check_details)] = Field(
        default_factory=dict,
        description="Free JSON: at most 10 levels deep and 64 KiB; no NUL characters, no NaN.",
    )
    channels: list[Name] | None = Field(
        default=None,
        max_length=32,
        description="Channel names to notify; the configured default_channels when omitted.",
    )
    dedup_key: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_NAME)] | None = Field(
        default=None, description="Replaces the computed fingerprint."
    )


class AlertAcknowledge(_Input):
    by: Actor
    note: Note | None = None


class AlertResolve(_Input):
    resolved_by: Actor
    notes: Note | None = None


class AlertStatusChange(_Input):
    status: Status
    by: Actor
    note: Note | None = None


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    team: str
    fingerprint: str
    alert_type: str
    severity: Severity
    message: str
    source: str
    labels: dict[str, str]
    details: dict[str, Any]
    channels: list[str]
    status: Status
    escalation_level: int
    max_escalation_level: int
    occurrences: int
    suppressed_count: int
    notifications_sent: int
    first_seen_at: datetime
    last_seen_at: datetime
    triggered_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_notes: str | None
    resolution_minutes: float | None
    acknowledge_minutes: float | None
    closed_at: datetime | None
    policy: str
    next_escalation_at: datetime | None
    escalation_policy_id: uuid.UUID | None = Field(
        default=None,
        description="The team's escalation policy its route chose; null: the configured [escalation] policy.",
    )
    silenced: bool = Field(
        default=False, description="An active silence matches: notifications are held, not sent."
    )
    silenced_by: list[uuid.UUID] = Field(default_factory=list, description="The active silences that match.")


class AlertSubmitted(AlertRead):
    outcome: Outcome
    notified: bool


class AlertEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    actor: str | None
    from_status: str | None
    to_status: str | None
    note: str | None
    data: dict[str, Any]


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    alert_id: uuid.UUID | None
    channel: str
    reason: str
    level: int
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    duration_ms: float | None
    silence_id: uuid.UUID | None = Field(default=None, description="The silence holding this row, if any.")
    digest_id: uuid.UUID | None = Field(
        default=None, description="The digest this row was folded into (status folded), if any."
    )


class AlertDetail(AlertRead):
    history: list[AlertEventRead]
    notifications: list[NotificationRead]


class AlertPage(BaseModel):
    items: list[AlertRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ErrorItem(BaseModel):
    field: str | None
    message: str


class ErrorBody(BaseModel):
    """The one error shape of every 4xx and 5xx answer."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["alert 5f0c... not found"])
    field: str | None = Field(default=None, examples=["severity"])
    errors: list[ErrorItem] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok", "ready", "unavailable"]
    database: str | None = None


class ChannelRead(BaseModel):
    """A configured channel; secrets are never part of it."""

    name: str
    type: str
    mode: str | None = Field(
        default=None,
        description="how a slack channel posts: `webhook` (incoming webhook) or `app` (bot token, "
        "one message per alert, kept up to date); null for the other types",
    )
    sent: int
    failed: int
    pending: int
    silenced: int = Field(description="notifications held by a silence")
    folded: int = Field(
        description=(
            "notifications folded into a digest past max_per_minute (delivered in the digest, "
            "which is counted once in sent, failed or pending)"
        )
    )
    folded_last_hour: int = Field(description="notifications folded into the digests of the last hour")
    max_per_minute: int | None = Field(description="the channel's flood limit; null: unlimited")
    paused_until: datetime | None = Field(
        description="the provider asked to wait (a rate limit): no notification goes before then"
    )
    success_rate: float | None = Field(description="sent / (sent + failed); null before any result")
    mean_latency_ms: float | None


class ChannelTestQueued(BaseModel):
    notification_id: uuid.UUID
    channel: str


class EscalationRuleRead(BaseModel):
    level: int
    severities: list[Severity]
    after_minutes: float
    repeat_every_minutes: float | None
    channels: list[str]


class EscalationPolicyRead(BaseModel):
    name: str
    rules: list[EscalationRuleRead]


class EscalationStepRead(BaseModel):
    alert_id: uuid.UUID
    kind: Literal["escalation", "repeat"]
    from_level: int
    to_level: int
    notifications: int


class EscalationTickRead(BaseModel):
    at: datetime
    steps: list[EscalationStepRead]


class StatsPeriod(BaseModel):
    since: datetime | None
    until: datetime | None
    alert_type: str | None
    source: str | None


class AlertTotals(BaseModel):
    total: int
    active: int
    resolved: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_type: dict[str, int] = Field(
        description="The most frequent types; the rest are summed in other_types."
    )
    other_types: int


class ResolutionStats(BaseModel):
    mean_minutes: float | None
    median_minutes: float | None
    p90_minutes: float | None
    mean_minutes_to_acknowledge: float | None
    median_minutes_to_acknowledge: float | None
    p90_minutes_to_acknowledge: float | None
    reopened: int = Field(description="Alerts reopened at least once.")
    reopen_rate: float | None


class DedupStats(BaseModel):
    submissions: int
    duplicates: int
    suppressed: int
    suppression_rate: float | None
    active_fingerprints: int = Field(description="Active alerts seen within the dedup window.")


class EscalationStats(BaseModel):
    alerts_reached_level: dict[str, int]
    escalations_by_level: dict[str, int]


class ChannelStats(BaseModel):
    sent: int
    failed: int
    pending: int
    silenced: int
    folded: int = Field(description="notifications folded into a digest (delivered in it)")
    success_rate: float | None
    mean_latency_ms: float | None
    p95_latency_ms: float | None


class SilenceStats(BaseModel):
    active: int = Field(description="Silences in force now.")
    pending: int = Field(description="Silences that start later.")
    held_notifications: int = Field(description="Notifications held by silences still in force.")
    silenced_notifications: int = Field(description="Notifications ever held by a silence.")


class StatsRead(BaseModel):
    period: StatsPeriod
    alerts: AlertTotals
    resolution: ResolutionStats
    deduplication: DedupStats
    escalation: EscalationStats
    channels: dict[str, ChannelStats]
    silences: SilenceStats


# --- silences ------------------------------------------------------------------

SilenceState = Literal["pending", "active", "expired"]
_MATCHER_NAME = r"^(alert_type|source|severity|labels\.[^\x00-\x1f\x7f]{1,100})$"


class SilenceMatcher(_Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, pattern=_MATCHER_NAME)] = Field(
        description="`alert_type`, `source`, `severity`, or `labels.<key>`", examples=["labels.env"]
    )
    value: Annotated[str, StringConstraints(max_length=1_000, pattern=_TEXT)] = Field(examples=["prod"])
    is_regex: bool = Field(
        default=False,
        description=(
            "An RE2 regular expression (no backreferences or lookaround) that must match the whole "
            "value; at most `silence_max_pattern_length` characters (default 256)."
        ),
    )


class SilenceCreate(_Input):
    """A maintenance window. Every matcher must match (a missing label reads as "")."""

    matchers: list[SilenceMatcher] = Field(
        min_length=1, max_length=256, description="At most `silence_max_matchers` (default 32)."
    )
    starts_at: Instant | None = Field(default=None, description="Now when omitted.")
    ends_at: Instant | None = Field(default=None, description="Give this or `duration_minutes`.")
    duration_minutes: Annotated[float, Field(gt=0, le=60 * 24 * 366)] | None = None
    created_by: Actor
    comment: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS, pattern=_TEXT),
    ]

    @field_validator("duration_minutes")
    @classmethod
    def _ends_within_the_calendar(cls, value: float | None, info: ValidationInfo) -> float | None:
        starts_at = info.data.get("starts_at")
        if value is not None and starts_at is not None:
            try:
                starts_at + timedelta(minutes=value)
            except OverflowError:
                raise ValueError("starts_at plus duration_minutes is past the year 9999") from None
        return value


class SilenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    team: str | None = Field(description="the team whose alerts it holds; null: every team's")
    matchers: list[SilenceMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    state: SilenceState = "active"
