"""A stored escalation policy's clock: which step is due, and when the next
one will be. Pure: no I/O (services/oncall/paging.py does the steps).

`escalation_step` counts the steps an alert has done, repeats of the last
included. While it is below the number of steps, step n+1 is due at
`triggered_at + steps[n].after_minutes`; after the last, the last step is
done again every `repeat_every_minutes` from `escalated_at`, up to
`repeat_last_step` times; then nothing is due.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class PolicyStep:
    after: timedelta
    targets: tuple[str, ...]  # as written in the policy


class StoredPolicy(Protocol):
    """An escalation_policies row: the ORM object, or its columns as read."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def team(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def steps(self) -> list[dict[str, Any]]: ...
    @property
    def repeat_last_step(self) -> int: ...
    @property
    def repeat_every_minutes(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Policy:
    id: uuid.UUID
    team: str
    name: str
    steps: tuple[PolicyStep, ...]
    repeat_last_step: int
    repeat_every: timedelta | None

    @classmethod
    def of(cls, row: StoredPolicy) -> Policy:
        return cls(
            id=row.id,
            team=row.team,
            name=row.name,
            steps=tuple(_step(step) for step in row.steps),
            repeat_last_step=row.repeat_last_step or 0,
            # Not positive (refused by the API): no repeats, rather than a tick
            # that finds the same alert due again and again.
            repeat_every=timedelta(minutes=row.repeat_every_minutes)
            if row.repeat_every_minutes is not None and row.repeat_every_minutes > 0
            else None,
        )


def _step(stored: dict[str, Any]) -> PolicyStep:
    return PolicyStep(
        after=timedelta(minutes=float(stored.get("after_minutes") or 0)),
        targets=tuple(str(target) for target in stored.get("notify") or ()),
    )


@dataclass(frozen=True, slots=True)
class Due:
    index: int  # into policy.steps
    kind: Literal["escalation", "repeat"]


def next_step(policy: Policy, done: int) -> Due | None:
    """The step that comes after `done` steps (repeats included), if any."""
    count = len(policy.steps)
    if done < count:
        return Due(done, "escalation")
    if count and policy.repeat_every is not None and done - count + 1 <= policy.repeat_last_step:
        return Due(count - 1, "repeat")
    return None


def next_due(
    policy: Policy, *, done: int, triggered_at: datetime, escalated_at: datetime | None
) -> datetime | None:
    """When the step after `done` falls due; None when none is left."""
    upcoming = next_step(policy, done)
    if upcoming is None:
        return None
    if upcoming.kind == "escalation":
        return triggered_at + policy.steps[upcoming.index].after
    assert policy.repeat_every is not None
    return (escalated_at or triggered_at) + policy.repeat_every


def due_steps(
    policy: Policy, *, done: int, triggered_at: datetime, escalated_at: datetime | None, now: datetime
) -> list[Due]:
    """The steps to do at `now`, in order: every step whose time has come
    (a ticker that was down catches up, so nobody a step names is skipped),
    or one repeat (repeats count from the step done now)."""
    found: list[Due] = []
    while (upcoming := next_step(policy, done + len(found))) is not None:
        at = next_due(
            policy,
            done=done + len(found),
            triggered_at=triggered_at,
            escalated_at=now if found else escalated_at,
        )
        if at is None or at > now:
            break
        found.append(upcoming)
        if upcoming.kind == "repeat":
            break
    return found


def level_of(index: int) -> int:
    """The escalation level step `index` (0-based) puts an alert at: its
    number, within 1..4."""
    return min(max(index + 1, 1), 4)
