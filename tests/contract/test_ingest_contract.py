"""One contract for every store: the same submissions give the same alerts,
answers, history and outbox rows on the ORM store (SQLite, PostgreSQL) and
on the one-statement store (PostgreSQL).

Each case states what it expects, run on every implementation; then the
whole observable record of each implementation must equal the others'.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from app.errors import InvalidInput
from tests.contract.stores import KINDS, START, WEBHOOK, Driver, driver, events_without_order

Case = Callable[[Driver], Awaitable[list[Any]]]
CASES: dict[str, tuple[Case, dict[str, Any]]] = {}


def case(**settings: Any) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[fn.__name__] = (fn, settings)
        return fn

    return register


def outbox(snapshot: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(alert, channel, reason, level, status) of every outbox row."""
    return [row[:5] for row in snapshot["outbox"]]


@case()
async def new_alert_goes_to_the_defaults(d: Driver) -> list[Any]:
    first = await d.submit()
    assert (first["outcome"], first["reason"], first["notified"]) == ("created", "new", True)
    assert first["fields"]["channels"] == ["console"]
    return [first]


@case()
async def empty_channel_list_means_the_defaults(d: Driver) -> list[Any]:
    first = await d.submit(channels=[])
    assert first["notified"] is True
    assert outbox(await d.snapshot()) == [("alert-1", "console", "new", 1, "pending")]
    return [first]


@case(channels={"hooks": WEBHOOK})
async def duplicate_channel_names_notify_once(d: Driver) -> list[Any]:
    first = await d.submit(channels=["hooks", "console", "hooks"])
    assert first["fields"]["channels"] == ["hooks", "console"]
    assert outbox(await d.snapshot()) == [
        ("alert-1", "console", "new", 1, "pending"),
        ("alert-1", "hooks", "new", 1, "pending"),
    ]
    return [first]


@case()
async def unknown_channel_is_refused_and_nothing_is_written(d: Driver) -> list[Any]:
    with pytest.raises(InvalidInput) as refused:
        await d.submit(channels=["console", "nowhere"])
    assert refused.value.field == "channels.1"
    snapshot = await d.snapshot()
    assert snapshot["alerts"] == [] and snapshot["outbox"] == []
    return [refused.value.message]


@case(channels={"hooks": WEBHOOK})
async def a_duplicate_takes_the_newest_message_details_and_channels(d: Driver) -> list[Any]:
    await d.submit()
    second = await d.at(1).submit(message="/var is 97% full", details={"used_pct": 97}, channels=["hooks"])
    assert second["outcome"] == "duplicate" and second["reason"] is None and second["notified"] is False
    fields = second["fields"]
    assert (fields["message"], fields["details"], fields["channels"]) == (
        "/var is 97% full",
        {"used_pct": 97},
        ["hooks"],
    )
    assert (fields["occurrences"], fields["suppressed_count"]) == (2, 1)
    return [second]


@case(suppression_threshold=3)
async def every_threshold_th_suppressed_duplicate_notifies(d: Driver) -> list[Any]:
    answers = [await d.submit()]
    for minute in range(1, 8):
        answers.append(await d.at(minute).submit())
    reasons = [a["reason"] for a in answers]
    assert reasons == ["new", None, None, "repeated", None, None, "repeated", None]
    assert answers[-1]["fields"]["suppressed_count"] == 5
    assert [row[2] for row in outbox(await d.snapshot())] == ["new", "repeated", "repeated"]
    return answers


@case()
async def a_higher_severity_raises_and_reschedules(d: Driver) -> list[Any]:
    await d.submit(severity="medium")
    assert (await d.snapshot())["alerts"][0]["next_escalation_at"] is None  # no rule for medium
    raised = await d.at(5).submit(severity="high")
    assert (raised["reason"], raised["fields"]["severity"], raised["notified"]) == ("severity", "high", True)
    # The default policy: high reaches level 2 30 minutes after the trigger.
    assert raised["fields"]["next_escalation_at"] == START + timedelta(minutes=30)
    kinds = [e[2] for e in (await d.snapshot())["events"]]
    assert kinds == ["created", "severity_raised", "notified"]
    return [raised]


@case()
async def a_lower_severity_is_suppressed_and_keeps_the_higher(d: Driver) -> list[Any]:
    await d.submit(severity="critical")
    lower = await d.at(1).submit(severity="low")
    assert (lower["reason"], lower["fields"]["severity"]) == (None, "critical")
    return [lower]


@case()
async def a_raise_at_a_higher_level_counts_from_that_level(d: Driver) -> list[Any]:
    await d.submit(severity="high")
    await d.at(31).tick()  # level 2
    raised = await d.at(40).submit(severity="critical")
    assert raised["fields"]["escalation_level"] == 2
    # critical: level 3 after 30 minutes (already due), level 4 after 120.
    assert raised["fields"]["next_escalation_at"] == START + timedelta(minutes=30)
    await d.at(41).tick()
    return [raised, (await d.snapshot())["alerts"][0]["escalation_level"]]


@case()
async def a_raise_on_an_acknowledged_alert_does_not_schedule_escalation(d: Driver) -> list[Any]:
    await d.submit(severity="high")
    await d.at(1).move("alert-1", "acknowledged")
    raised = await d.at(2).submit(severity="critical")
    assert (raised["reason"], raised["fields"]["status"]) == ("severity", "acknowledged")
    assert raised["fields"]["next_escalation_at"] is None
    return [raised]


@case(dedup_window_minutes=60)
async def a_duplicate_after_the_window_notifies_again(d: Driver) -> list[Any]:
    await d.submit()
    inside = await d.at(59).submit()
    after = await d.at(59 + 60).submit()
    assert (inside["reason"], after["reason"]) == (None, "window")
    return [inside, after]


@case(dedup_window_minutes=60)
async def reopen_inside_the_window_and_a_new_alert_after_it(d: Driver) -> list[Any]:
    await d.submit(severity="high")
    await d.at(10).move("alert-1", "resolved")
    back = await d.at(20).submit(severity="medium")
    assert (back["outcome"], back["alert"], back["reason"]) == ("reopened", "alert-1", "reopened")
    assert (back["fields"]["status"], back["fields"]["severity"], back["fields"]["triggered_at"]) == (
        "reopened",
        "medium",
        START + timedelta(minutes=20),
    )
    await d.at(30).move("alert-1", "resolved")
    fresh = await d.at(30 + 61).submit()
    assert (fresh["outcome"], fresh["alert"]) == ("created", "alert-2")
    return [back, fresh]


@case(dedup_window_minutes=60)
async def a_closed_alert_reopens_inside_the_window(d: Driver) -> list[Any]:
    await d.submit()
    await d.at(1).move("alert-1", "closed")
    back = await d.at(2).submit()
    assert back["outcome"] == "reopened"
    return [back]


@case(enable_deduplication=False)
async def dedup_off_makes_every_submission_an_alert(d: Driver) -> list[Any]:
    answers = [await d.submit(), await d.submit()]
    assert [(a["outcome"], a["alert"]) for a in answers] == [("created", "alert-1"), ("created", "alert-2")]
    return answers


@case(enabled=False)
async def notifications_off_queue_nothing(d: Driver) -> list[Any]:
    first = await d.submit()
    assert (first["reason"], first["notified"]) == ("new", False)
    assert outbox(await d.snapshot()) == []
    return [first]


@case()
async def a_silence_in_force_holds_the_notifications(d: Driver) -> list[Any]:
    await d.silence(minutes=30, name="labels.env", value="pr.*", is_regex=True)
    held = await d.submit()
    other = await d.submit(labels={"env": "staging"})
    assert (held["silenced"], held["notified"], held["reason"]) == (True, False, "new")
    assert (other["silenced"], other["notified"]) == (False, True)
    assert outbox(await d.snapshot()) == [
        ("alert-1", "console", "new", 1, "silenced"),
        ("alert-2", "console", "new", 1, "pending"),
    ]
    return [held, other]


@case(suppression_threshold=10)
async def fifty_simultaneous_duplicates_make_one_alert(d: Driver) -> list[Any]:
    answers = await d.submit_many(50)
    snapshot = await d.snapshot()
    assert len(snapshot["alerts"]) == 1
    assert snapshot["alerts"][0]["occurrences"] == 50
    assert sorted(a["outcome"] for a in answers).count("created") == 1
    # 49 duplicates: the 10th, 20th, 30th and 40th suppressed in a row notify.
    assert [row[2] for row in outbox(snapshot)] == ["new"] + ["repeated"] * 4
    return [sorted((a["outcome"], a["reason"] or "") for a in answers)]


@case()
async def identity_is_team_and_fingerprint(d: Driver) -> list[Any]:
    ours = await d.submit(team="payments")
    theirs = await d.submit(team="search")  # the same submission, another team: another alert
    again = await d.at(1).submit(team="payments", message="again")
    assert [a["outcome"] for a in (ours, theirs, again)] == ["created", "created", "duplicate"]
    assert (ours["alert"], theirs["alert"], again["alert"]) == ("alert-1", "alert-2", "alert-1")
    assert ours["fields"]["fingerprint"] == theirs["fields"]["fingerprint"]
    assert [ours["fields"]["team"], theirs["fields"]["team"]] == ["payments", "search"]
    alerts = (await d.snapshot())["alerts"]
    assert sorted((a["team"], a["occurrences"]) for a in alerts) == [("payments", 2), ("search", 1)]
    return [ours, theirs, again]


@case()
async def teams_racing_on_one_fingerprint_get_one_alert_each(d: Driver) -> list[Any]:
    import asyncio

    answers = [await d.submit(team="a"), await d.submit(team="b")]  # names: alert-1 is a's
    answers += await asyncio.gather(*(d.submit(team=team) for team in ("a", "b", "a")))
    alerts = (await d.snapshot())["alerts"]
    assert sorted((a["team"], a["occurrences"]) for a in alerts) == [("a", 3), ("b", 2)]
    return [sorted((a["fields"]["team"], a["outcome"]) for a in answers)]


# --- routing (services/oncall/routing.py) -----------------------------------------------


@case(channels={"hooks": WEBHOOK})
async def a_route_gives_a_new_alert_its_policy_and_channels(d: Driver) -> list[Any]:
    await d.policy("pager", first_after=5)
    await d.route(
        "critical",
        matchers=[{"name": "severity", "value": "critical"}],
        escalation_policy="pager",
        channels=["hooks"],
    )
    routed = await d.submit(severity="critical")
    other = await d.submit(severity="high", labels={"env": "staging"})
    fields = routed["fields"]
    assert (fields["channels"], fields["escalation_policy_id"]) == (["hooks"], "pager")
    assert fields["next_escalation_at"] == START + timedelta(minutes=5)
    # No route matches: the defaults and the configured policy (high: level 2 after 30 minutes).
    assert (other["fields"]["channels"], other["fields"]["escalation_policy_id"]) == (["console"], None)
    assert other["fields"]["next_escalation_at"] == START + timedelta(minutes=30)
    assert outbox(await d.snapshot()) == [
        ("alert-1", "hooks", "new", 1, "pending"),
        ("alert-2", "console", "new", 1, "pending"),
    ]
    assert [a["escalation_step"] for a in (await d.snapshot())["alerts"]] == [0, 0]
    return [routed, other]


@case(channels={"hooks": WEBHOOK})
async def named_channels_win_over_the_routes_but_the_policy_holds(d: Driver) -> list[Any]:
    await d.policy("pager")
    await d.route("everything", escalation_policy="pager", channels=["hooks"])
    named = await d.submit(channels=["console"])
    assert (named["fields"]["channels"], named["fields"]["escalation_policy_id"]) == (["console"], "pager")
    assert named["fields"]["next_escalation_at"] == START  # the first step at once
    return [named]


@case(channels={"hooks": WEBHOOK, "pager-hook": WEBHOOK})
async def continuing_routes_add_their_channels_and_the_first_policy_wins(d: Driver) -> list[Any]:
    await d.policy("first", first_after=1)
    await d.policy("second", first_after=2)
    await d.route("hooks", position=1, channels=["hooks"], **{"continue": True})
    await d.route("prod", position=2, matchers=[{"name": "labels.env", "value": "pr.*", "is_regex": True}],
                  escalation_policy="first", channels=["pager-hook", "hooks"], **{"continue": True})  # fmt: skip
    await d.route("later", position=3, escalation_policy="second", channels=["console"])
    await d.route("never", position=4, channels=["console"])
    both = await d.submit()
    assert (both["fields"]["channels"], both["fields"]["escalation_policy_id"]) == (
        ["hooks", "pager-hook", "console"],
        "first",
    )
    staging = await d.submit(labels={"env": "staging"})
    assert (staging["fields"]["channels"], staging["fields"]["escalation_policy_id"]) == (
        ["hooks", "console"],
        "second",
    )
    return [both, staging]


@case()
async def a_raise_does_not_reschedule_a_policy_alert(d: Driver) -> list[Any]:
    await d.policy("pager", first_after=10)
    await d.route("prod", matchers=[{"name": "labels.env", "value": "prod"}], escalation_policy="pager")
    await d.submit(severity="medium")
    raised = await d.at(5).submit(severity="critical")
    assert (raised["reason"], raised["fields"]["severity"]) == ("severity", "critical")
    # Not the configured policy's 30 minutes for critical: the policy's first step stays due.
    assert raised["fields"]["next_escalation_at"] == START + timedelta(minutes=10)
    return [raised]


@case(dedup_window_minutes=60, channels={"hooks": WEBHOOK})
async def a_reopen_is_routed_again(d: Driver) -> list[Any]:
    await d.policy("pager", first_after=3)
    await d.route("prod", matchers=[{"name": "labels.env", "value": "prod"}], escalation_policy="pager")
    await d.submit()
    await d.at(10).move("alert-1", "resolved")
    await d.unroute("prod")
    await d.route("hooks-only", channels=["hooks"])
    back = await d.at(20).submit()
    fields = back["fields"]
    assert (back["outcome"], fields["escalation_policy_id"], fields["channels"]) == (
        "reopened",
        None,
        ["hooks"],
    )
    await d.at(30).move("alert-1", "resolved")
    await d.route(
        "prod", matchers=[{"name": "labels.env", "value": "prod"}], escalation_policy="pager", position=-1
    )
    again = await d.at(40).submit()
    assert (again["outcome"], again["fields"]["escalation_policy_id"]) == ("reopened", "pager")
    assert again["fields"]["next_escalation_at"] == START + timedelta(minutes=43)
    assert (await d.snapshot())["alerts"][0]["escalation_step"] == 0
    return [back, again]


@case()
async def a_policy_deleted_since_the_table_was_read_is_left_out(d: Driver) -> list[Any]:
    await d.policy("pager", first_after=4)
    await d.route("all", escalation_policy="pager")
    await d.unroute("all", reload=False)
    await d.drop_policy("pager")  # this process's table still routes to it
    made = await d.submit()
    assert (made["outcome"], made["fields"]["escalation_policy_id"]) == ("created", None)
    return [made]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_store_keeps_the_contract(name: str, postgresql_url: str, sqlite_url: str) -> None:
    run, settings = CASES[name]
    urls = {"sqlite": sqlite_url, "postgresql": postgresql_url}
    records = {}
    for kind in KINDS:
        async with driver(kind, urls[kind[1]], **settings) as d:
            answers = await run(d)
            snapshot = await d.snapshot()
        records[kind] = (answers, snapshot["alerts"], events_without_order(snapshot), outbox(snapshot))
    reference = records[KINDS[0]]
    for kind, record in records.items():
        for part, ours, theirs in zip(
            ("answers", "alerts", "events", "outbox"), record, reference, strict=True
        ):
            assert ours == theirs, f"{kind} differs from {KINDS[0]} in {part}"
