"""What the escalation-to-people tests set up through the service: people,
schedules, a stored policy, and an alert that follows it (as a route would
make it), with real receivers for email (aiosmtpd) and SMS (Twilio's API
on 127.0.0.1)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import func, select

from app.models import Alert, AlertEvent, EscalationPolicy, OutboxRow
from app.services import escalation
from app.services.escalation import escalate_due
from tests.conftest import FakeClock, Service
from tests.helpers import wait_for
from tests.peers import HttpReceiver, SmtpServer

START = FakeClock().now  # every test's fake clock starts here
SID = "AC" + "0123456789abcdef" * 2
TWILIO_CREATED = b'{"sid":"SM0123","status":"queued"}'
WEEKS_FROM_JAN = {
    "shift_unit": "weeks",
    "shift_length": 1,
    "handoff_time": "00:00",
    "start_date": "2026-01-01",
}


def channels(smtp: SmtpServer, twilio: HttpReceiver) -> dict[str, Any]:
    """An email and an SMS channel, each with recipients of its own that a
    person's notification must not reach."""
    return {
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "from_address": "alerts@example.net",
            "to": ["team@example.net"],
        },
        "texts": {
            "type": "sms",
            "account_sid": SID,
            "auth_token": "twilio-auth-token-0123456789",
            "from_number": "+15005550006",
            "to": ["+15559990000"],
            "api_url": twilio.url,
        },
    }


def person(name: str, number: str, *more: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "contact_methods": [
            {"type": "email", "address": f"{name}@example.com"},
            {"type": "sms", "address": number},
            *more,
        ],
    }


async def add_user(svc: Service, body: dict[str, Any]) -> str:
    response = await svc.client.post("/users", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_schedule(svc: Service, name: str, participants: list[str], **layer: Any) -> str:
    body = {
        "name": name,
        "time_zone": "UTC",
        "layers": [{"participants": participants, **(WEEKS_FROM_JAN | layer)}],
    }
    response = await svc.client.post("/schedules", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_policy(
    svc: Service,
    steps: list[tuple[float, list[str]]],
    *,
    name: str = "payments",
    team: str = "default",
    repeat_last_step: int = 0,
    repeat_every_minutes: float | None = None,
) -> uuid.UUID:
    """A stored policy, written as the policies API would store it."""
    policy = EscalationPolicy(
        id=uuid.uuid4(),
        team=team,
        name=name,
        steps=[{"after_minutes": after, "notify": notify} for after, notify in steps],
        repeat_last_step=repeat_last_step,
        repeat_every_minutes=repeat_every_minutes,
        created_at=START,
        updated_at=START,
    )
    async with svc.app.state.sessionmaker() as session, session.begin():
        session.add(policy)
    return policy.id


async def follow(svc: Service, alert_id: str, policy_id: uuid.UUID) -> None:
    """What a route does at creation: the alert follows the policy, its first
    step due `steps[0].after_minutes` after it triggered."""
    async with svc.app.state.sessionmaker() as session, session.begin():
        alert = await session.get(Alert, uuid.UUID(alert_id))
        assert alert is not None
        alert.escalation_policy_id = policy_id
        await escalation.reschedule(session, alert, settings=svc.settings, now=svc.clock())


async def settled(svc: Service) -> None:
    """Wait until every notification queued so far is delivered and recorded:
    moving the clock on past their leases would have them sent again."""

    async def nothing_due() -> bool:
        async with svc.app.state.sessionmaker() as session:
            due = await session.scalar(
                select(func.count()).where(OutboxRow.status.in_(("pending", "sending")))
            )
        return due == 0

    svc.app.state.wake_delivery()
    await wait_for(nothing_due)
    await svc.app.state.dispatcher.drain()


async def tick_at(svc: Service, minutes: float) -> list[tuple[str, int, int]]:
    """One tick `minutes` after START (injected clock), once what earlier
    ticks queued is delivered; delivery is woken for what it queues. Returns
    (kind, from level, to level) per step done."""
    await settled(svc)
    svc.clock.now = START + timedelta(minutes=minutes)
    async with svc.app.state.sessionmaker() as session, session.begin():
        steps = await escalate_due(session, now=svc.clock(), settings=svc.settings)
    svc.app.state.wake_delivery()
    return [(step.kind, step.from_level, step.to_level) for step in steps]


async def stored_alert(svc: Service, alert_id: str) -> Alert:
    async with svc.app.state.sessionmaker() as session:
        alert = await session.get(Alert, uuid.UUID(alert_id))
        assert alert is not None
        return alert


async def steps_recorded(svc: Service, alert_id: str) -> list[AlertEvent]:
    """The alert's escalation and repeat events, oldest first."""
    async with svc.app.state.sessionmaker() as session:
        return list(
            await session.scalars(
                select(AlertEvent)
                .where(
                    AlertEvent.alert_id == uuid.UUID(alert_id), AlertEvent.kind.in_(("escalation", "repeat"))
                )
                .order_by(AlertEvent.id)
            )
        )


async def person_rows(svc: Service, alert_id: str) -> list[tuple[str, str, str]]:
    """(reason, channel, recipient) of the alert's notifications to people, in order."""
    async with svc.app.state.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxRow.reason, OutboxRow.channel, OutboxRow.recipient)
            .where(OutboxRow.alert_id == uuid.UUID(alert_id), OutboxRow.recipient.is_not(None))
            .order_by(OutboxRow.created_at, OutboxRow.channel, OutboxRow.recipient)
        )
        return [(reason, channel, str(recipient)) for reason, channel, recipient in rows]


def texted(twilio: HttpReceiver) -> list[str]:
    """The numbers Twilio was asked to text, in order."""
    return [parse_qs(request.body.decode())["To"][0] for request in twilio.requests]


def mailed(smtp: SmtpServer) -> list[list[str]]:
    """The envelope recipients of each mail, in order."""
    return [got.rcpt_tos for got in smtp.recorder.delivered]
