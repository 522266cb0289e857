"""A batch is its submissions one by one: the same answers, the same stored
alerts, history and outbox rows.

Each scenario runs once with its batches sent as batches (services/batch.py,
on SQLite and PostgreSQL; on PostgreSQL also through the store's own path,
db/pg_batch.py, with the general path for what it declines), once with each
batch's submissions sent at once to SQLite's statement store, which writes
them as one group (db/sqlite_store.py: repeats merged in order, what its
statement declines handed to the ORM store in its place, a group meeting a
silence written as a batch), and once with every submission sent alone, in
order, through each store (tests/contract/stores.py). Every record must
equal the first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from app.db.pg_store import PgStore
from app.db.store import Ingested, IngestPlan
from app.schemas import AlertCreate
from app.services import batch
from app.services.decisions import plan
from tests.contract.stores import KINDS, WEBHOOK, Driver, driver, events_without_order


@dataclass(frozen=True)
class Batch:
    minute: float
    bodies: list[dict[str, Any]]


@dataclass(frozen=True)
class Step:
    minute: float
    run: Callable[[Driver], Awaitable[None]]


Scenario = list[Batch | Step]


def a(name: str, **overrides: Any) -> dict[str, Any]:
    """Alert `name`'s submission: its identity is its source."""
    return {"source": name, "message": f"{name} is failing"} | overrides


def moved(alert: str, status: str) -> Callable[[Driver], Awaitable[None]]:
    return lambda d: d.move(alert, status)


def silenced(**matcher: Any) -> Callable[[Driver], Awaitable[None]]:
    return lambda d: d.silence(minutes=30, **matcher)


def policy(name: str, *, first_after: float) -> Callable[[Driver], Awaitable[None]]:
    return lambda d: d.policy(name, first_after=first_after)


def route(name: str, **fields: Any) -> Callable[[Driver], Awaitable[None]]:
    return lambda d: d.route(name, **fields)


SCENARIOS: dict[str, tuple[Scenario, dict[str, Any]]] = {
    "the dedup rules within and across batches": (
        [
            Batch(
                0,
                [
                    a("a", severity="high"),
                    a("b"),
                    a("a", severity="critical", message="a is worse"),  # raises, notifies
                    a("c", dedup_key="c-key", labels={"zone": "1"}),
                    a("a", severity="low"),  # suppressed: 1 in a row
                    a("a"),  # 2
                    a("a"),  # the threshold: "repeated"
                    a("a"),
                ],
            ),
            Step(1, silenced(name="labels.env", value="staging")),
            Batch(2, [a("d", labels={"env": "staging"}), a("b"), a("e", labels={"env": "staging"}), a("d")]),
            Step(5, moved("alert-1", "resolved")),
            Step(6, moved("alert-2", "closed")),
            # Reopened within the window; a dedup_key merges whatever else differs.
            Batch(
                10, [a("a"), a("b", severity="low"), a("a"), a("c2", dedup_key="c-key", labels={"zone": "2"})]
            ),
            Batch(71, [a("c2", dedup_key="c-key"), a("f")]),  # a whole window later: notifies again
            Step(80, moved("alert-1", "resolved")),
            Batch(141, [a("a"), a("a"), a("b")]),  # ended longer ago than the window: a new alert
        ],
        {"suppression_threshold": 3, "dedup_window_minutes": 60},
    ),
    "repeats, raises, streaks and reopens within one group": (
        [
            Batch(
                0,
                [
                    a("a", severity="high"),
                    a("b"),
                    a("a", severity="critical", message="a is worse"),  # raises, notifies
                    a("a", severity="low"),  # suppressed: 1 in a row
                    a("a"),  # 2
                    a("a"),  # the threshold: "repeated"
                    a("b", severity="high"),  # raises b: rescheduled (high has a level 2)
                    a("a"),
                ],
            ),
            Step(5, moved("alert-1", "resolved")),
            Step(6, moved("alert-2", "closed")),
            # alert-1 reopened first (the ORM store's), then merged into by the statement.
            Batch(10, [a("c"), a("a"), a("a", severity="critical"), a("b", severity="low"), a("a"), a("c")]),
            Batch(71, [a("a"), a("c", dedup_key="k", labels={"zone": "1"}), a("c2", dedup_key="k")]),
        ],
        {"suppression_threshold": 3, "dedup_window_minutes": 60},
    ),
    "repeats, a raise, new alerts and duplicates in one batch": (
        [
            Batch(0, [a("a"), a("b", severity="high")]),
            Batch(
                1,
                [
                    a("a"),  # a duplicate
                    a("c"),  # new
                    a("a", severity="critical", message="a is worse"),  # a raise: notifies again
                    a("b"),  # a duplicate, suppressed
                    a("c", severity="low"),  # the new one, merged at once
                    a("a", severity="low"),
                    a("d", dedup_key="d-key"),
                    a("a"),  # the threshold: "repeated"
                    a("d2", dedup_key="d-key", labels={"zone": "2"}),  # merges into d
                    a("e"),
                ],
            ),
            Batch(2, [a("e"), a("e"), a("f"), a("a")]),
        ],
        {"suppression_threshold": 3},
    ),
    "deduplication off": (
        [Batch(0, [a("a"), a("a"), a("b")]), Batch(1, [a("a")])],
        {"enable_deduplication": False},
    ),
    "notifications off": ([Batch(0, [a("a"), a("a", severity="critical"), a("b")])], {"enabled": False}),
    "routes give policies and channels; a raise keeps the policy's schedule; a reopen routes again": (
        [
            Step(0, policy("pager", first_after=5)),
            Step(
                0,
                route(
                    "critical",
                    matchers=[{"name": "severity", "value": "critical"}],
                    escalation_policy="pager",
                    channels=["hooks"],
                    **{"continue": True},
                ),
            ),
            Step(0, route("prod", matchers=[{"name": "labels.env", "value": "prod"}], channels=["console"])),
            Batch(
                1,
                [
                    a("a", severity="critical"),  # both routes: pager, hooks and console
                    a("b", severity="medium"),  # prod only: console, the configured policy
                    a("b", severity="critical"),  # a raise of a configured-policy alert: rescheduled
                    a("c", severity="medium", labels={"env": "staging"}),  # no route: the defaults
                    a("a", severity="critical", channels=["hooks"]),  # named channels win
                ],
            ),
            Step(2, moved("alert-1", "resolved")),
            Batch(3, [a("a", severity="medium"), a("c", severity="critical", labels={"env": "staging"})]),
        ],
        {"channels": {"hooks": WEBHOOK}},
    ),
}


# Batches written whole by the store's own path (db/pg_batch.py), per scenario.
FAST: dict[str, int] = {}


def _fast_path(d: Driver, counter: str) -> batch.FastPath | None:
    """The store's own batch path, where it has one (as main.py hands it over), counting
    the batches it wrote."""
    if not isinstance(d.store, PgStore):
        return None
    ingest_batch = d.store.ingest_batch

    async def counted(plans: Sequence[IngestPlan]) -> list[Ingested] | None:
        done = await ingest_batch(plans)
        if done is not None:
            FAST[counter] = FAST.get(counter, 0) + 1
        return done

    return counted


async def _batchwise(
    d: Driver, scenario: Scenario, write: Callable[[list[IngestPlan]], Awaitable[Sequence[Ingested]]]
) -> list[Any]:
    """The scenario's steps in turn, each batch's plans written by `write`."""
    answers: list[Any] = []
    for step in scenario:
        d.at(step.minute)
        if isinstance(step, Step):
            await step.run(d)
            continue
        plans = [
            plan(AlertCreate.model_validate(_body(body)), team="default", settings=d.settings, now=d.now)
            for body in step.bodies
        ]
        answers += [d.answer(one) for one in await write(plans)]
    return answers


async def _as_batches(d: Driver, scenario: Scenario, counter: str = "") -> list[Any]:
    fast = _fast_path(d, counter)

    async def write(plans: list[IngestPlan]) -> Sequence[Ingested]:
        return await batch.submit_many(
            d.sessionmaker, plans, team="default", settings=d.settings, now=d.now, fast=fast
        )

    return await _batchwise(d, scenario, write)


async def _together(d: Driver, scenario: Scenario) -> list[Any]:
    """Each batch's submissions sent at once: the store groups them."""

    async def write(plans: list[IngestPlan]) -> Sequence[Ingested]:
        return await asyncio.gather(*(d.store.ingest(one) for one in plans))

    return await _batchwise(d, scenario, write)


async def _one_by_one(d: Driver, scenario: Scenario) -> list[Any]:
    answers: list[Any] = []
    for step in scenario:
        d.at(step.minute)
        if isinstance(step, Step):
            await step.run(d)
            continue
        for body in step.bodies:
            answers.append(await d.submit(**body))
    return answers


def _body(overrides: dict[str, Any]) -> dict[str, Any]:
    from tests.contract.stores import body

    return body(**overrides)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_a_batch_stores_what_its_submissions_store_one_by_one(
    name: str, postgresql_url: str, sqlite_url: str
) -> None:
    scenario, settings = SCENARIOS[name]
    urls = {"sqlite": sqlite_url, "postgresql": postgresql_url}
    runs = (
        [("batches", kind) for kind in KINDS if kind != ("statement", "sqlite")]
        + [("together", ("statement", "sqlite"))]
        + [("one by one", kind) for kind in KINDS]
    )
    records = {}
    FAST.pop(name, None)
    for mode, kind in runs:
        async with driver(kind, urls[kind[1]], **settings) as d:
            if mode == "batches":
                answers = await _as_batches(d, scenario, counter=name)
            elif mode == "together":
                answers = await _together(d, scenario)
            else:
                answers = await _one_by_one(d, scenario)
            snapshot = await d.snapshot()
        records[(mode, kind)] = (
            answers,
            snapshot["alerts"],
            events_without_order(snapshot),
            snapshot["outbox"],
        )
    reference_run = ("one by one", KINDS[0])
    reference = records[reference_run]
    assert len(reference[0]) == sum(len(s.bodies) for s in scenario if isinstance(s, Batch))
    for run, record in records.items():
        for part, ours, theirs in zip(
            ("answers", "alerts", "events", "outbox"), record, reference, strict=True
        ):
            assert ours == theirs, f"{run} differs from {reference_run} in {part}"
    # The store's own path wrote the batches it can take (none with a
    # silence in force, a reopen, or deduplication off).
    assert FAST.get(name, 0) == FAST_BATCHES[name]


FAST_BATCHES = {
    "the dedup rules within and across batches": 3,  # minutes 0, 71 and 141
    "deduplication off": 0,
    "notifications off": 1,
    "repeats, a raise, new alerts and duplicates in one batch": 3,
    "repeats, raises, streaks and reopens within one group": 2,  # minutes 0 and 71; 10 reopens
    "routes give policies and channels; a raise keeps the policy's schedule; a reopen routes again": 1,
}
