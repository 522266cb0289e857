"""The store of the hot paths: what a submission and a delivery write.

The rules are decided once, in services/ (services/decisions.py), and reach
a store as data: an `IngestPlan` per submission, carrying `Decisions`, the
answers of the dedup and escalation rules for every state a stored alert can
be in. A store only reads the stored state, looks the answer up and writes
it. Two implementations, held to one contract (tests/contract):

- db/orm_store.py: the ORM, in a transaction of its own; SQLite's
  deliveries, and the general path on both databases (reopen, silences,
  dedup off; on PostgreSQL failed attempts too);
- db/pg_store.py: PostgreSQL, one autocommitted statement per batch of
  submissions, per claim and per batch of sent results, on asyncpg; what its
  statement declines it hands to the ORM store;
- db/sqlite_store.py: SQLite, a group of submissions in one transaction,
  one upsert each (db/sqlite_ingest.py); what that declines it hands to the
  ORM store.

main.py builds one of them and nothing else asks which it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

# The columns of an alert as the stores hand it back (the API's fields plus
# what the answer and the notifiers need).
ALERT_COLUMNS = (
    "id", "team", "fingerprint", "alert_type", "severity", "message", "source", "labels", "details", "channels",
    "status", "escalation_level", "max_escalation_level", "occurrences", "suppressed_count",
    "notifications_sent", "first_seen_at", "last_seen_at", "triggered_at", "acknowledged_at",
    "acknowledged_by", "resolved_at", "resolved_by", "resolution_notes", "resolution_minutes",
    "acknowledge_minutes", "closed_at", "policy", "next_escalation_at", "last_notify_reason",
    "escalation_policy_id",
)  # fmt: skip

LEVELS = 4


@dataclass(frozen=True, slots=True)
class DuplicateOutcome:
    reason: str | None  # why it notifies; None: suppressed
    severity: str  # the alert's severity after the merge
    raised: bool  # the severity went up: escalation is rescheduled and the raise recorded


@dataclass(frozen=True, slots=True)
class Decisions:
    """The rules' answers for every state, computed once per settings.

    `duplicate` is indexed by `duplicate_index`: the incoming severity, the
    stored one, whether a whole window passed since the alert was last seen
    (`last_seen_at <= now - window`) and whether the suppressed streak
    reached `streak_limit`. `reschedule` is indexed by `reschedule_index`
    (severity, status, level): minutes from `triggered_at` to the next level,
    and minutes between repeats counted from `escalated_at` (or
    `triggered_at`); the earlier of the two is the next escalation.
    """

    severities: tuple[str, ...]  # lowest first
    statuses: tuple[str, ...]  # the active ones, in reschedule order
    duplicate: tuple[DuplicateOutcome, ...]
    reschedule: tuple[tuple[float | None, float | None], ...]
    streak_limit: int
    window: timedelta
    policy: str

    def duplicate_index(
        self, incoming: str, current: str, *, window_passed: bool, threshold_reached: bool
    ) -> int:
        width = len(self.severities)
        rank = self.severities.index
        return ((rank(incoming) * width + rank(current)) * 2 + window_passed) * 2 + threshold_reached

    def duplicate_outcome(
        self, incoming: str, current: str, *, window_passed: bool, threshold_reached: bool
    ) -> DuplicateOutcome:
        return self.duplicate[
            self.duplicate_index(
                incoming, current, window_passed=window_passed, threshold_reached=threshold_reached
            )
        ]

    def reschedule_index(self, severity: str, status: str, level: int) -> int:
        rank = self.severities.index(severity)
        return (rank * len(self.statuses) + self.statuses.index(status)) * LEVELS + level - 1

    def raise_reasons(self) -> list[str]:
        """The reasons that mean a raise (recorded as a `severity_raised` event)."""
        raised = {o.reason for o in self.duplicate if o.raised and o.reason}
        assert not raised & {o.reason for o in self.duplicate if not o.raised}, (
            "a reason must say raise or not"
        )
        return sorted(raised)


def next_escalation_at(
    offsets: tuple[float | None, float | None], *, triggered_at: datetime, escalated_at: datetime | None
) -> datetime | None:
    """The earlier of the next level and the next repeat; None when neither."""
    after, repeat = offsets
    due = []
    if after is not None:
        due.append(triggered_at + timedelta(minutes=after))
    if repeat is not None:
        due.append((escalated_at or triggered_at) + timedelta(minutes=repeat))
    return min(due) if due else None


# Not frozen, though never changed: a frozen dataclass pays a __setattr__
# per field, on the path of every submission.
@dataclass(slots=True)
class IngestPlan:
    """One submission, with everything the rules decided before the store
    looked at the stored alert."""

    id: uuid.UUID  # the alert's id if this submission creates it
    team: str
    fingerprint: str  # identity, within the team
    now: datetime
    alert_type: str
    severity: str
    message: str
    source: str
    labels: dict[str, str]
    details: dict[str, Any]
    channels: list[str]  # the alert's channels: the requested ones, or the defaults
    notify: tuple[str, ...]  # channels of any notification it causes (none when notifications are off)
    deduplicate: bool
    next_escalation_at: datetime | None  # of an alert this submission creates or reopens
    decisions: Decisions
    # The team's policy its route chose (services/oncall/routing.py), for an
    # alert this submission creates or reopens; None: the configured one.
    # A duplicate keeps the alert's, and a raise does not reschedule it.
    escalation_policy_id: uuid.UUID | None = None


@dataclass(slots=True)
class Ingested:
    alert: dict[str, Any]  # ALERT_COLUMNS
    outcome: str  # created | duplicate | reopened
    reason: str | None  # why it notified; None when suppressed
    queued: int  # notifications queued for delivery (a silence's held rows not counted)
    silenced_by: list[uuid.UUID]


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A claimed outbox row, detached from any session."""

    id: uuid.UUID
    alert_id: uuid.UUID | None
    channel: str
    reason: str
    level: int
    attempts: int
    created_at: datetime
    lease_until: datetime
    alert: dict[str, Any] | None  # ALERT_COLUMNS
    folded: tuple[FoldedRow, ...] = ()  # a digest's notifications, oldest first
    # What the channel kept from an earlier delivery of this alert
    # (db/channel_messages.py); read for the channels claimed in order.
    reference: dict[str, Any] | None = None
    # A person's notification: their address, instead of the channel's own
    # recipients. Such a row keeps and reads no reference and waits for no
    # other row of its alert (a person's message is not the channel's).
    recipient: str | None = None


@dataclass(frozen=True, slots=True)
class FoldedRow:
    """A notification folded into a digest (flood control), as the digest's
    claim reads it."""

    id: uuid.UUID
    alert_id: uuid.UUID | None
    reason: str
    level: int
    created_at: datetime
    alert: dict[str, Any] | None  # ALERT_COLUMNS


@dataclass(frozen=True, slots=True)
class Quotas:
    """Flood control's answer for one claim (services/flood.py): the channels
    with a limit, how many individual notifications each may start in the
    window, and the window (a clock minute) whose digests fold the rest. Rows
    of `exempt` reasons, and retries (attempts > 0), take no share."""

    per_window: Mapping[str, int]
    window_start: datetime
    window_end: datetime  # when the window's digests are due
    exempt: frozenset[str] = frozenset({"test", "digest"})


@dataclass(frozen=True, slots=True)
class Sent:
    row: ClaimedRow
    duration_ms: float
    reference: dict[str, Any] | None = None  # to keep for the row's alert and channel


@dataclass(frozen=True, slots=True)
class Failed:
    """A failed attempt, with what the retry rules decided."""

    row: ClaimedRow
    status: str  # pending (retry) or failed (given up)
    next_attempt_at: datetime
    error: str
    duration_ms: float
    # The provider asked for a pause (a rate limit): no row of the channel is
    # claimed before then, by any replica.
    pause_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Released:
    """A claimed row handed back unattempted (its channel was paused
    meanwhile): pending again at `until`, its attempt not counted."""

    row: ClaimedRow
    until: datetime


class Store(Protocol):
    async def ingest(self, plan: IngestPlan) -> Ingested: ...

    async def claim(
        self,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        quotas: Quotas | None = None,
        in_order: Sequence[str] = (),
    ) -> list[ClaimedRow]:
        """Claim due rows of channels not paused; with `quotas`, rows past a
        channel's share are folded into its window's digest instead. A row
        of a channel named in `in_order` waits while an earlier row of its
        alert on that channel is pending or being sent: such a channel gets
        one alert's notifications one at a time, in the order they were
        queued (by creation time, then id), and each finds the reference the
        one before it kept; a person's row (one with a `recipient`) takes no
        part in that order."""
        ...

    async def record(
        self,
        *,
        sent: Sequence[Sent],
        failed: Sequence[Failed],
        now: datetime,
        released: Sequence[Released] = (),
    ) -> dict[uuid.UUID, str | None]:
        """Per row its new status, or None when its lease was lost (a newer
        attempt owns it)."""
        ...

    async def close(self) -> None: ...
