"""A stored policy's clock (services/oncall/policy_steps.py): which step is
due, when the next one is, and how repeats end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.routing_schemas import ParsedTarget, parse_target
from app.services.oncall.policy_steps import Due, Policy, PolicyStep, due_steps, level_of, next_due

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def policy(*afters: float, repeats: int = 0, every: float | None = None) -> Policy:
    return Policy(
        id=uuid.uuid4(),
        team="default",
        name="p",
        steps=tuple(PolicyStep(timedelta(minutes=a), ("schedule:primary",)) for a in afters),
        repeat_last_step=repeats,
        repeat_every=None if every is None else timedelta(minutes=every),
    )


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def test_targets_parse_by_prefix_and_a_bare_name_is_a_channel() -> None:
    assert parse_target("schedule:primary") == ParsedTarget("schedule", "primary")
    assert parse_target("user:alice") == ParsedTarget("user", "alice")
    assert parse_target("channel:ops") == ParsedTarget("channel", "ops")
    assert parse_target("ops-slack") == ParsedTarget("channel", "ops-slack")


def test_steps_fall_due_from_triggered_at_then_repeats_from_the_last() -> None:
    p = policy(0, 5, repeats=2, every=10)
    assert next_due(p, done=0, triggered_at=T0, escalated_at=None) == T0
    assert next_due(p, done=1, triggered_at=T0, escalated_at=T0) == minutes(5)
    assert next_due(p, done=2, triggered_at=T0, escalated_at=minutes(6)) == minutes(16)
    assert next_due(p, done=3, triggered_at=T0, escalated_at=minutes(16)) == minutes(26)
    assert next_due(p, done=4, triggered_at=T0, escalated_at=minutes(26)) is None
    assert next_due(policy(0, 5), done=2, triggered_at=T0, escalated_at=minutes(5)) is None


def test_a_late_tick_does_every_step_due_but_one_repeat() -> None:
    p = policy(0, 5, 60, repeats=3, every=1)
    assert due_steps(p, done=0, triggered_at=T0, escalated_at=None, now=minutes(30)) == [
        Due(0, "escalation"),
        Due(1, "escalation"),
    ]
    assert due_steps(p, done=3, triggered_at=T0, escalated_at=minutes(60), now=minutes(90)) == [
        Due(2, "repeat")
    ]
    assert due_steps(p, done=0, triggered_at=T0, escalated_at=None, now=minutes(-1)) == []


def test_levels_follow_the_step_number_up_to_four() -> None:
    assert [level_of(i) for i in range(6)] == [1, 2, 3, 4, 4, 4]
