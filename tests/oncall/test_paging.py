"""Escalation to people by a stored policy (services/oncall/paging.py), on
both databases, through the service with real receivers: the person on call
is paged by email (aiosmtpd) and SMS (a Twilio stand-in on 127.0.0.1), step
by step with an injected clock."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from app.db.engine import create_engine, create_sessionmaker
from app.models import AlertEvent, EscalationPolicy, OutboxRow
from app.services.escalation import escalate_due
from tests.conftest import Service, ServiceFactory, StartSmtp
from tests.helpers import create_alert, move, wait_for
from tests.oncall.paging_setup import (
    START,
    TWILIO_CREATED,
    add_policy,
    add_schedule,
    add_user,
    channels,
    follow,
    mailed,
    person,
    person_rows,
    settled,
    steps_recorded,
    stored_alert,
    texted,
    tick_at,
)
from tests.peers import HttpReceiver, SmtpServer
from tests.slack_api import TOKEN, SlackApi

ALICE, BOB, CAROL = "+15551230001", "+15551230002", "+15551230003"


@dataclass
class Paging:
    svc: Service
    smtp: SmtpServer
    twilio: HttpReceiver
    users: dict[str, str]  # name -> id
    schedules: dict[str, str]  # name -> id


@pytest.fixture
async def paging(
    service_factory: ServiceFactory, smtp_server: StartSmtp, http_receiver: HttpReceiver
) -> AsyncIterator[Paging]:
    """alice on call for `primary`, bob for `secondary`; carol on no schedule."""
    smtp = smtp_server()
    http_receiver.answer(201, body=TWILIO_CREATED)
    async with service_factory(channels=channels(smtp, http_receiver), enable_escalation=False) as svc:
        users = {
            "alice": await add_user(svc, person("alice", ALICE)),
            "bob": await add_user(svc, person("bob", BOB)),
            "carol": await add_user(svc, person("carol", CAROL)),
        }
        schedules = {
            "primary": await add_schedule(svc, "primary", [users["alice"]]),
            "secondary": await add_schedule(svc, "secondary", [users["bob"]]),
        }
        yield Paging(svc, smtp, http_receiver, users, schedules)


TWO_STEPS = [(0, ["schedule:primary"]), (5, ["schedule:secondary"])]


async def paged_alert(p: Paging, steps: list[tuple[float, list[str]]], **policy: object) -> str:
    alert = await create_alert(p.svc.client, severity="critical")
    await follow(p.svc, alert["id"], await add_policy(p.svc, steps, **policy))  # type: ignore[arg-type]
    return str(alert["id"])


async def delivered(p: Paging, *, mails: int, texts: int) -> None:
    async def arrived() -> bool:
        return len(p.smtp.recorder.delivered) >= mails and len(p.twilio.requests) >= texts

    await wait_for(arrived)
    await asyncio.sleep(0.2)  # nothing more is on its way
    assert (len(p.smtp.recorder.delivered), len(p.twilio.requests)) == (mails, texts)


async def test_primary_then_secondary_by_email_and_sms_until_acknowledged(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, TWO_STEPS)
    assert (await stored_alert(p.svc, alert_id)).next_escalation_at == START  # step 1 at 0 minutes

    assert await tick_at(p.svc, 0) == [("escalation", 1, 1)]
    await delivered(p, mails=1, texts=1)
    # The person's own addresses, not the channels' recipients.
    assert mailed(p.smtp) == [["alice@example.com"]] and texted(p.twilio) == [ALICE]
    message = p.smtp.recorder.delivered[0].message
    assert message["To"] == "alice@example.com" and "escalation" in str(message["Subject"])

    assert await tick_at(p.svc, 4.9) == []
    assert await tick_at(p.svc, 5) == [("escalation", 1, 2)]
    await delivered(p, mails=2, texts=2)
    assert mailed(p.smtp)[1] == ["bob@example.com"] and texted(p.twilio)[1] == BOB

    alert = await stored_alert(p.svc, alert_id)
    assert (alert.escalation_step, alert.escalation_level, alert.max_escalation_level) == (2, 2, 2)
    assert alert.escalated_at == START + timedelta(minutes=5)
    assert alert.next_escalation_at is None  # no step left, no repeats
    first, second = await steps_recorded(p.svc, alert_id)
    assert (first.data["step"], first.data["targets"], first.note) == (1, ["schedule:primary"], None)
    assert first.data["notified"] == [
        {
            "user": "alice",
            "user_id": p.users["alice"],
            "via": [{"type": "email", "channel": "mail"}, {"type": "sms", "channel": "texts"}],
        }
    ]
    assert (second.data["step"], [n["user"] for n in second.data["notified"]]) == (2, ["bob"])
    assert second.data["policy"] == "payments" and (second.data["from_level"], second.data["to_level"]) == (
        1,
        2,
    )

    assert (await move(p.svc.client, alert_id, "acknowledged")).status_code == 200
    assert (await stored_alert(p.svc, alert_id)).next_escalation_at is None
    assert await tick_at(p.svc, 60) == []
    await delivered(p, mails=2, texts=2)  # acknowledging notifies no person


async def test_acknowledged_between_steps_the_next_step_is_not_done(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, TWO_STEPS, repeat_last_step=3, repeat_every_minutes=5)
    assert await tick_at(p.svc, 0) == [("escalation", 1, 1)]
    await delivered(p, mails=1, texts=1)
    assert (await stored_alert(p.svc, alert_id)).next_escalation_at == START + timedelta(minutes=5)

    p.svc.clock.now = START + timedelta(minutes=2)
    assert (await move(p.svc.client, alert_id, "acknowledged")).status_code == 200
    alert = await stored_alert(p.svc, alert_id)
    assert (alert.escalation_step, alert.next_escalation_at) == (1, None)
    for minute in (5, 10, 30):  # step 2 and its repeats would have been due
        assert await tick_at(p.svc, minute) == [], minute
    assert [e.data["step"] for e in await steps_recorded(p.svc, alert_id)] == [1]
    await delivered(p, mails=1, texts=1)  # bob, the secondary, is never paged
    assert texted(p.twilio) == [ALICE] and [r[2] for r in await person_rows(p.svc, alert_id)] == [
        "alice@example.com",
        ALICE,
    ]


async def test_a_schedule_change_between_steps_reaches_the_next_step(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, [(0, ["schedule:primary"]), (5, ["schedule:primary"])])
    assert await tick_at(p.svc, 0) == [("escalation", 1, 1)]
    cover = {
        "user_id": p.users["carol"],
        "start": (START + timedelta(minutes=1)).isoformat(),
        "end": (START + timedelta(hours=2)).isoformat(),
    }
    response = await p.svc.client.post(f"/schedules/{p.schedules['primary']}/overrides", json=cover)
    assert response.status_code == 201, response.text
    assert await tick_at(p.svc, 5) == [("escalation", 1, 2)]
    await delivered(p, mails=2, texts=2)
    assert texted(p.twilio) == [ALICE, CAROL]
    assert [r[2] for r in await person_rows(p.svc, alert_id)] == [
        "alice@example.com",
        ALICE,
        "carol@example.com",
        CAROL,
    ]


async def test_the_last_step_repeats_then_stops(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, [(0, ["schedule:primary"])], repeat_last_step=2, repeat_every_minutes=10)
    timeline = {
        0: [("escalation", 1, 1)],
        5: [],
        10: [("repeat", 1, 1)],
        19: [],
        20: [("repeat", 1, 1)],
        30: [],
        500: [],
    }
    for minute, expected in timeline.items():
        assert await tick_at(p.svc, minute) == expected, minute
    alert = await stored_alert(p.svc, alert_id)
    assert (alert.escalation_step, alert.next_escalation_at) == (3, None)
    assert [(e.kind, e.data["step"]) for e in await steps_recorded(p.svc, alert_id)] == [
        ("escalation", 1),
        ("repeat", 1),
        ("repeat", 1),
    ]
    await delivered(p, mails=3, texts=3)
    assert [reason for reason, _, _ in await person_rows(p.svc, alert_id)] == ["escalation"] * 2 + [
        "repeat"
    ] * 4


async def test_a_ticker_that_was_down_does_every_step_due_once(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, TWO_STEPS, repeat_last_step=5, repeat_every_minutes=1)
    assert await tick_at(p.svc, 30) == [
        ("escalation", 1, 1),
        ("escalation", 1, 2),
    ]  # one repeat later, not 25
    assert (await stored_alert(p.svc, alert_id)).next_escalation_at == START + timedelta(minutes=31)
    await delivered(p, mails=2, texts=2)
    assert sorted(texted(p.twilio)) == [ALICE, BOB]


async def test_nobody_on_call_and_unreachable_targets_are_noted_and_send_nothing(paging: Paging) -> None:
    p = paging
    dana = await add_user(
        p.svc, {"name": "dana", "contact_methods": [{"type": "phone", "address": "+15551230004"},
                                                     {"type": "telegram", "address": "12345"}]}
    )  # fmt: skip
    await add_schedule(p.svc, "later", [dana], start_date="2026-02-01")  # nobody before February
    steps = [
        (0, ["schedule:later", "schedule:nowhere", "user:ghost", "channel:gone"]),
        (5, ["user:dana", "user:carol", "console"]),
    ]
    alert_id = await paged_alert(p, steps)
    assert await tick_at(p.svc, 0) == [("escalation", 1, 1)]
    [first] = await steps_recorded(p.svc, alert_id)
    assert first.data["notified"] == [] and first.data["channels"] == []
    assert first.note is not None
    for said in (
        "schedule:later: nobody is on call",
        "schedule:nowhere: team 'default' has no such schedule",
        "user:ghost: no such user in team 'default'",
        "channel:gone: no such channel is configured",
    ):
        assert said in first.note
    assert await person_rows(p.svc, alert_id) == []
    # The next step still comes on time: nobody reached is no reason to wait.
    assert (await stored_alert(p.svc, alert_id)).next_escalation_at == START + timedelta(minutes=5)

    assert await tick_at(p.svc, 5) == [("escalation", 1, 2)]
    _, second = await steps_recorded(p.svc, alert_id)
    assert [n["user"] for n in second.data["notified"]] == ["carol"] and second.data["channels"] == [
        "console"
    ]
    assert second.note is not None
    assert "dana's phone contact: phone calls are not delivered yet" in second.note
    assert "dana's telegram contact: no telegram channel is configured" in second.note
    assert "dana: no contact method that a channel delivers" in second.note
    async with p.svc.app.state.sessionmaker() as session:
        console = await session.scalar(
            select(func.count()).where(
                OutboxRow.alert_id == uuid.UUID(alert_id),
                OutboxRow.channel == "console",
                OutboxRow.reason == "escalation",
            )
        )
    assert console == 1
    await delivered(p, mails=1, texts=1)
    assert texted(p.twilio) == [CAROL]


async def test_a_deleted_policy_falls_back_to_the_settings_policy(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, TWO_STEPS)
    assert await tick_at(p.svc, 0) == [("escalation", 1, 1)]
    async with p.svc.app.state.sessionmaker() as session, session.begin():
        await session.execute(delete(EscalationPolicy))
    alert = await stored_alert(p.svc, alert_id)
    assert alert.escalation_policy_id is None  # ON DELETE SET NULL
    # Its step 2 time comes; the settings' rules take over: critical is level 3 at 30 minutes.
    assert await tick_at(p.svc, 5) == []
    assert await tick_at(p.svc, 30) == [("escalation", 1, 3)]
    last = (await steps_recorded(p.svc, alert_id))[-1]
    assert last.data["policy"] == "default" and "notified" not in last.data
    await delivered(p, mails=1, texts=1)  # only step 1's page to alice


async def test_reopening_starts_the_policy_again(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, TWO_STEPS)
    await tick_at(p.svc, 0)
    await tick_at(p.svc, 5)
    p.svc.clock.now = START + timedelta(minutes=10)
    for status in ("resolved", "reopened"):
        assert (await move(p.svc.client, alert_id, status)).status_code == 200
    alert = await stored_alert(p.svc, alert_id)
    assert (alert.escalation_step, alert.escalation_level) == (0, 1)
    assert alert.next_escalation_at == START + timedelta(minutes=10)  # step 1 again, by the policy
    assert await tick_at(p.svc, 10) == [("escalation", 1, 1)]
    await delivered(p, mails=3, texts=3)
    assert texted(p.twilio) == [ALICE, BOB, ALICE]


async def test_a_persons_slack_message_is_direct_and_leaves_the_channel_message_alone(
    service_factory: ServiceFactory,
) -> None:
    api = SlackApi()
    api.channels["U0ALICE01"] = "D0ALICE01"  # a member id: Slack opens the direct message
    try:
        chat = {"type": "slack", "bot_token": TOKEN, "channel": "C0ALERTS01", "api_url": api.url}
        async with service_factory(
            channels={"chat": chat}, default_channels=["chat"], enable_escalation=False
        ) as svc:
            alice = await add_user(
                svc, {"name": "alice", "contact_methods": [{"type": "slack", "address": "U0ALICE01"}]}
            )
            await add_schedule(svc, "primary", [alice])
            alert = await create_alert(svc.client, severity="critical")
            await wait_for(lambda: _has(api, 1))  # the channel's own message about the alert
            await follow(svc, alert["id"], await add_policy(svc, [(0, ["schedule:primary", "chat"])]))
            assert await tick_at(svc, 0) == [("escalation", 1, 1)]
            await wait_for(lambda: _has(api, 2))
            await asyncio.sleep(0.2)
            channel_message = next(m for m in api.messages.values() if m.channel == "C0ALERTS01")
            direct = next(m for m in api.messages.values() if m.channel == "D0ALICE01")
            assert direct.thread_ts is None and direct.attachments
            # The step's channel row updates the channel's message and replies in its thread; the
            # person's row posted anew and touched neither.
            assert channel_message.versions == 2
            assert [r.channel for r in api.replies] == ["C0ALERTS01"]
            assert len(api.messages) == 2 and api.problems == []
    finally:
        api.close()


async def _has(api: SlackApi, messages: int) -> bool:
    return len(api.messages) >= messages


async def test_two_tickers_at_once_notify_each_person_once_per_step(paging: Paging) -> None:
    p = paging
    policy = await add_policy(p.svc, TWO_STEPS)
    alerts = []
    for i in range(40):
        alert = await create_alert(p.svc.client, severity="critical", source=f"host-{i}")
        await follow(p.svc, alert["id"], policy)
        alerts.append(alert["id"])
    settings = p.svc.settings
    engines = [create_engine(settings.database_url, pooler=settings.database_pooler) for _ in range(2)]

    async def ticker(engine, minutes: float) -> int:  # type: ignore[no-untyped-def]
        async with create_sessionmaker(engine)() as session, session.begin():
            now = START + timedelta(minutes=minutes)
            return len(await escalate_due(session, now=now, settings=settings, batch_size=15))

    try:
        for minutes in (0, 5):
            p.svc.clock.now = START + timedelta(minutes=minutes)
            counts = await asyncio.gather(*(ticker(engine, minutes) for engine in engines))
            assert sum(counts) == 40, (minutes, counts)
            await settled(p.svc)  # this step's pages sent before the clock moves on
        async with create_sessionmaker(engines[0])() as session:
            events = await session.scalar(select(func.count()).where(AlertEvent.kind == "escalation"))
            per_person = (
                await session.execute(
                    select(OutboxRow.alert_id, OutboxRow.user_id, OutboxRow.channel, func.count())
                    .where(OutboxRow.recipient.is_not(None))
                    .group_by(OutboxRow.alert_id, OutboxRow.user_id, OutboxRow.channel)
                )
            ).all()
    finally:
        for engine in engines:
            await engine.dispose()
    assert events == 80
    # alice (step 1) and bob (step 2), by email and SMS, once each, on every alert.
    assert len(per_person) == 40 * 2 * 2 and {count for *_, count in per_person} == {1}
    # And at the receivers: one mail and one text per alert and step, alice's then bob's.
    await delivered(p, mails=80, texts=80)
    assert sorted(texted(p.twilio)) == [ALICE] * 40 + [BOB] * 40


async def test_the_history_is_readable_through_the_api(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, TWO_STEPS)
    await tick_at(p.svc, 0)
    detail = (await p.svc.client.get(f"/alerts/{alert_id}")).json()
    [step] = [e for e in detail["history"] if e["kind"] == "escalation"]
    assert step["data"]["notified"][0]["user"] == "alice"
    assert json.dumps(step["data"])  # plain JSON


async def test_a_page_held_by_a_silence_goes_to_the_person_when_it_ends(paging: Paging) -> None:
    p = paging
    alert_id = await paged_alert(p, TWO_STEPS)
    silence = await p.svc.client.post(
        "/silences",
        json={
            "matchers": [{"name": "alert_type", "value": "disk_full"}],
            "duration_minutes": 60,
            "created_by": "alice",
            "comment": "maintenance",
        },
    )
    assert silence.status_code == 201, silence.text
    assert await tick_at(p.svc, 0) == [("escalation", 1, 1)]
    async with p.svc.app.state.sessionmaker() as session:
        held = set(await session.scalars(select(OutboxRow.status).where(OutboxRow.recipient.is_not(None))))
    assert held == {"silenced"}
    assert (await p.svc.client.delete(f"/silences/{silence.json()['id']}")).status_code == 200
    p.svc.app.state.wake_silences()

    async def released() -> bool:
        return ("unsilenced", "texts", ALICE) in await person_rows(p.svc, alert_id)

    await wait_for(released)
    await delivered(p, mails=1, texts=1)
    assert mailed(p.smtp) == [["alice@example.com"]] and texted(p.twilio) == [ALICE]


async def test_a_route_made_over_the_api_pages_the_person_on_call_for_a_new_alert(paging: Paging) -> None:
    # The whole way: a policy and a route made over HTTP, an alert submitted,
    # the route gives it the policy, and the first tick pages the person.
    p = paging
    policy = await p.svc.client.post(
        "/escalation-policies",
        json={"name": "db-urgent", "steps": [{"after_minutes": 0, "notify": ["schedule:primary"]}]},
    )
    assert policy.status_code == 201, policy.text
    route = await p.svc.client.post(
        "/routes",
        json={
            "name": "db",
            "matchers": [{"name": "labels.service", "value": "db-.*", "is_regex": True}],
            "escalation_policy": "db-urgent",
        },
    )
    assert route.status_code == 201, route.text
    routed = await create_alert(p.svc.client, severity="critical", labels={"service": "db-1"})
    other = await create_alert(p.svc.client, severity="critical", labels={"service": "web"})
    assert routed["escalation_policy_id"] == policy.json()["id"] and other["escalation_policy_id"] is None
    assert await tick_at(p.svc, 0) == [("escalation", 1, 1)]
    await delivered(p, mails=1, texts=1)
    assert mailed(p.smtp) == [["alice@example.com"]] and texted(p.twilio) == [ALICE]
