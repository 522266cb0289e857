"""Escalation: the default policy rule by rule with an injected clock, the
ticker running by itself, and replicas ticking at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db.engine import create_engine, create_sessionmaker
from app.models import Alert, AlertEvent, EscalationDue, OutboxRow
from app.services.escalation import escalate_due
from tests.conftest import FakeClock, Service, make_settings
from tests.helpers import alert_body, create_alert, wait_for
from tests.peers import HttpReceiver

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)

START = FakeClock().now  # every test's fake clock starts here


async def tick_at(svc: Service, minutes: float) -> list[dict[str, Any]]:
    """Set the clock to `minutes` after the alert was created, tick once."""
    svc.clock.now = START + _minutes(minutes)  # alerts are created at START
    response = await svc.client.post("/escalation/tick")
    assert response.status_code == 200, response.text
    steps: list[dict[str, Any]] = response.json()["steps"]
    return steps


def _minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def summary(steps: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(s["kind"], s["from_level"], s["to_level"]) for s in steps]


async def test_high_escalates_to_level_2_after_30_minutes_not_before(service: Service) -> None:
    alert = await create_alert(service.client, severity="high")
    assert alert["next_escalation_at"] is not None
    assert await tick_at(service, 29) == []
    steps = await tick_at(service, 31)
    assert summary(steps) == [("escalation", 1, 2)] and steps[0]["alert_id"] == alert["id"]
    assert await tick_at(service, 45) == []  # level 2 does not repeat
    assert summary(await tick_at(service, 60)) == [("escalation", 2, 3)]
    detail = (await service.client.get(f"/alerts/{alert['id']}")).json()
    assert detail["escalation_level"] == 3 and detail["max_escalation_level"] == 3
    escalations = [n for n in detail["notifications"] if n["reason"] == "escalation"]
    assert [(n["level"], n["channel"]) for n in escalations] == [(2, "console"), (3, "console")]
    events = [e["data"] for e in detail["history"] if e["kind"] == "escalation"]
    assert [(e["from_level"], e["to_level"]) for e in events] == [(1, 2), (2, 3)]


async def test_critical_timeline_with_repeats_at_the_right_times(service: Service) -> None:
    await create_alert(service.client, severity="critical")
    timeline = {
        29: [],
        30: [("escalation", 1, 3)],
        45: [],
        59.9: [],
        60: [("repeat", 3, 3)],
        61: [],
        90: [("repeat", 3, 3)],
        119: [],
        120: [("escalation", 3, 4)],
        134: [],
        135: [("repeat", 4, 4)],
        140: [],
        150: [("repeat", 4, 4)],
    }
    for minute, expected in timeline.items():
        assert summary(await tick_at(service, minute)) == expected, minute


async def test_skipped_levels_notify_once_at_the_new_level(service: Service) -> None:
    alert = await create_alert(service.client, severity="critical")
    steps = await tick_at(service, 125)  # the service was down for two hours
    assert summary(steps) == [("escalation", 1, 4)] and steps[0]["notifications"] == 1
    detail = (await service.client.get(f"/alerts/{alert['id']}")).json()
    assert len([e for e in detail["history"] if e["kind"] == "escalation"]) == 1
    assert [n["level"] for n in detail["notifications"] if n["reason"] == "escalation"] == [4]
    assert await tick_at(service, 126) == []


async def test_acknowledged_and_in_progress_alerts_stay_put(service: Service) -> None:
    acked = await create_alert(service.client, severity="critical", source="a")
    working = await create_alert(service.client, severity="critical", source="b")
    await service.client.patch(f"/alerts/{acked['id']}/acknowledge", json={"by": "alice"})
    await service.client.patch(f"/alerts/{working['id']}/status", json={"status": "in_progress", "by": "bob"})
    assert await tick_at(service, 300) == []
    for alert_id in (acked["id"], working["id"]):
        assert (await service.client.get(f"/alerts/{alert_id}")).json()["escalation_level"] == 1


async def test_low_severity_never_escalates(service: Service) -> None:
    alert = await create_alert(service.client, severity="medium")
    assert alert["next_escalation_at"] is None
    assert await tick_at(service, 10_000) == []


async def test_reopened_alert_starts_its_clock_again(service: Service) -> None:
    alert = await create_alert(service.client, severity="high")
    await tick_at(service, 31)
    await service.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "a"})
    service.clock.now = START + _minutes(40)
    reopened = await service.client.patch(
        f"/alerts/{alert['id']}/status", json={"status": "reopened", "by": "a"}
    )
    assert reopened.json()["escalation_level"] == 1
    assert await tick_at(service, 69) == []  # 29 minutes after reopening
    assert summary(await tick_at(service, 71)) == [("escalation", 1, 2)]


async def test_severity_raised_by_a_duplicate_reschedules(service: Service) -> None:
    await create_alert(service.client, severity="high")
    service.clock.now = START + _minutes(5)
    await service.client.post("/alerts", json={**_body(), "severity": "critical"})
    assert summary(await tick_at(service, 30)) == [("escalation", 1, 3)]


async def _queue_and_truth(svc: Service) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """The ticker's queue (escalation_due) and what it must mirror: each
    alert's next_escalation_at where it has one."""
    engine = create_engine(svc.settings.database_url, pooler=svc.settings.database_pooler)
    try:
        async with create_sessionmaker(engine)() as session:
            queue = dict((await session.execute(select(EscalationDue.alert_id, EscalationDue.due_at))).all())
            truth = dict(
                (
                    await session.execute(
                        select(Alert.id, Alert.next_escalation_at).where(
                            Alert.next_escalation_at.is_not(None)
                        )
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    return queue, truth


async def test_the_tickers_queue_follows_next_escalation_at_on_every_path(service: Service) -> None:
    high = await create_alert(service.client, severity="high", source="high")
    critical = await create_alert(service.client, severity="critical", source="critical")
    medium = await create_alert(service.client, severity="medium", source="medium")
    queue, truth = await _queue_and_truth(service)
    assert queue == truth and len(queue) == 2  # created: the medium one never escalates
    await tick_at(service, 31)  # both step: their due times move on
    moved, truth = await _queue_and_truth(service)
    assert moved == truth and all(moved[k] > queue[k] for k in queue)
    service.clock.now = START + _minutes(32)
    raised = await service.client.post("/alerts", json={**alert_body(source="medium"), "severity": "high"})
    assert raised.status_code == 200, raised.text  # a duplicate raising the severity schedules it
    await service.client.patch(f"/alerts/{high['id']}/acknowledge", json={"by": "alice"})
    await service.client.patch(f"/alerts/{critical['id']}/resolve", json={"resolved_by": "a"})
    queue, truth = await _queue_and_truth(service)
    assert queue == truth and set(map(str, queue)) == {medium["id"]}
    await service.client.patch(f"/alerts/{critical['id']}/status", json={"status": "reopened", "by": "a"})
    queue, truth = await _queue_and_truth(service)
    assert queue == truth and set(map(str, queue)) == {medium["id"], critical["id"]}


async def test_a_queue_entry_whose_alert_is_not_due_holds_up_no_batch(service: Service) -> None:
    """Rows of the ticker's queue that find no due alert (another replica
    stepped it meanwhile, or a row out of step) are passed over: a batch of
    one still reaches the due alert behind them."""
    acked = await create_alert(service.client, severity="high", source="acked")
    due = await create_alert(service.client, severity="high", source="due")
    await service.client.patch(f"/alerts/{acked['id']}/acknowledge", json={"by": "alice"})
    engine = create_engine(service.settings.database_url, pooler=service.settings.database_pooler)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            session.add(EscalationDue(alert_id=uuid.UUID(acked["id"]), due_at=START))  # before the due one
        async with sessionmaker() as session, session.begin():
            steps = await escalate_due(
                session, now=START + _minutes(31), settings=service.settings, batch_size=1
            )
    finally:
        await engine.dispose()
    assert [(str(s.alert_id), s.kind) for s in steps] == [(due["id"], "escalation")]


def _body() -> dict[str, Any]:
    return alert_body()


async def test_higher_levels_add_their_channels(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    policy = {"rules": [{"level": 2, "severities": ["high"], "after_minutes": 10, "channels": ["pager"]}]}
    async with service_factory(
        channels={"pager": {"type": "webhook", "url": http_receiver.url}}, escalation=policy
    ) as svc:
        alert = await create_alert(svc.client, severity="high")
        await tick_at(svc, 10)
        detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
        routed = sorted((n["reason"], n["channel"]) for n in detail["notifications"])
        assert routed == [("escalation", "console"), ("escalation", "pager"), ("new", "console")]


async def test_policy_endpoint_shows_the_default_policy(service: Service) -> None:
    policy = (await service.client.get("/escalation/policy")).json()
    assert policy["name"] == "default"
    rules = [
        (r["level"], r["severities"], r["after_minutes"], r["repeat_every_minutes"]) for r in policy["rules"]
    ]
    assert rules == [
        (2, ["high"], 30, None),
        (3, ["high"], 60, 30),
        (3, ["critical"], 30, 30),
        (4, ["critical"], 120, 15),
    ]


async def test_lifespan_ticker_escalates_and_delivers_by_itself(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    policy = {"rules": [{"level": 2, "severities": ["high"], "after_minutes": 0.01, "channels": ["pager"]}]}
    async with service_factory(
        real_clock=True,
        channels={"pager": {"type": "webhook", "url": http_receiver.url}},
        escalation=policy,
        escalation_interval_seconds=0.5,
    ) as svc:
        alert = await create_alert(svc.client, severity="high")

        async def delivered() -> bool:
            return bool(http_receiver.requests)

        await wait_for(delivered)
        [request] = http_receiver.requests
        body = json.loads(request.body)
        assert body["reason"] == "escalation" and body["level"] == 2 and body["alert"]["id"] == alert["id"]


async def test_escalation_disabled_runs_no_ticker(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    policy = {"rules": [{"level": 2, "severities": ["high"], "after_minutes": 0.001, "channels": ["pager"]}]}
    async with service_factory(
        real_clock=True,
        channels={"pager": {"type": "webhook", "url": http_receiver.url}},
        escalation=policy,
        escalation_interval_seconds=0.1,
        enable_escalation=False,
    ) as svc:
        alert = await create_alert(svc.client, severity="high")
        await asyncio.sleep(1.0)
        assert http_receiver.requests == []
        assert (await svc.client.get(f"/alerts/{alert['id']}")).json()["escalation_level"] == 1


@pytest.mark.parametrize("database_url", ["postgresql", "postgresql-pgbouncer"], indirect=True)
async def test_two_tickers_on_postgres_escalate_each_step_once(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(enable_escalation=False) as svc:
        for i in range(200):
            await create_alert(svc.client, severity="high", source=f"host-{i}")
        settings = make_settings(svc.settings.database_url)
    engines = [create_engine(settings.database_url, pooler=settings.database_pooler) for _ in range(2)]
    now = START + _minutes(31)

    async def ticker(engine) -> int:  # type: ignore[no-untyped-def]
        sessionmaker = create_sessionmaker(engine)
        total = 0
        for _ in range(5):
            async with sessionmaker() as session, session.begin():
                total += len(await escalate_due(session, now=now, settings=settings, batch_size=20))
        return total

    try:
        counts = await asyncio.gather(*(ticker(e) for e in engines))
        async with create_sessionmaker(engines[0])() as session:
            events = await session.scalar(
                select(func.count()).select_from(AlertEvent).where(AlertEvent.kind == "escalation")
            )
            notes = (
                await session.execute(
                    select(OutboxRow.alert_id, func.count())
                    .where(OutboxRow.reason == "escalation")
                    .group_by(OutboxRow.alert_id)
                )
            ).all()
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(counts) == 200 and events == 200, counts
    assert len(notes) == 200 and {n for _, n in notes} == {1}


async def test_an_alert_due_at_once_wakes_the_ticker(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    # A step at 0 minutes (a stored policy's first step, usually): the ticker
    # runs soon after the submission, not a whole interval later.
    policy = {"rules": [{"level": 2, "severities": ["high"], "after_minutes": 0, "channels": ["pager"]}]}
    async with service_factory(
        real_clock=True,
        channels={"pager": {"type": "webhook", "url": http_receiver.url}},
        escalation=policy,
        escalation_interval_seconds=3600,
    ) as svc:
        await asyncio.sleep(0.2)  # the ticker's first run, at start-up, is over
        alert = await create_alert(svc.client, severity="high")

        async def delivered() -> bool:
            return bool(http_receiver.requests)

        await wait_for(delivered, timeout=5)
        body = json.loads(http_receiver.requests[0].body)
        assert (body["reason"], body["alert"]["id"]) == ("escalation", alert["id"])
