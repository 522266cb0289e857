"""A provider's "wait N seconds" pauses its whole channel, in the database:
the row that got it retries after N, the channel's other rows wait
unattempted, and other channels go on. Real receivers answer as Telegram,
Discord and Slack do."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.models import OutboxRow
from app.services.dispatcher import Dispatcher
from tests.conftest import Service
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver

TOKEN = "123456789:AAFsecret-bot_token"
TELEGRAM_429 = {
    "ok": False,
    "error_code": 429,
    "description": "Too Many Requests: retry after 30",
    "parameters": {"retry_after": 30},
}
TELEGRAM_OK = b'{"ok":true,"result":{"message_id":42}}'
DISCORD_429 = {"message": "You are being rate limited.", "retry_after": 12.5, "global": False}
JSON = {"Content-Type": "application/json"}


async def rows(svc: Service, channel: str) -> list[OutboxRow]:
    async with svc.app.state.sessionmaker() as session:
        found = await session.scalars(
            select(OutboxRow).where(OutboxRow.channel == channel).order_by(OutboxRow.created_at, OutboxRow.id)
        )
        return list(found)


async def settled(svc: Service, channel: str, **counts: int) -> None:
    async def check() -> bool:
        statuses = [row.status for row in await rows(svc, channel)]
        return all(statuses.count(status) == n for status, n in counts.items())

    await wait_for(check)


async def paused_until(svc: Service, channel: str) -> Any:
    figures = {c["name"]: c for c in (await svc.client.get("/channels")).json()}
    return figures[channel]["paused_until"]


def channels(limited_url: str, other_url: str, kind: str) -> dict[str, Any]:
    limited: dict[str, Any] = {
        "telegram": {"type": "telegram", "bot_token": TOKEN, "chat_id": 42, "api_url": limited_url},
        "discord": {"type": "discord", "url": limited_url + "/api/webhooks/1/token"},
        "slack": {"type": "slack", "url": limited_url + "/services/T0/B0/x"},
    }[kind]
    return {"limited": limited, "hooks": {"type": "webhook", "url": other_url}}


@pytest.mark.parametrize(
    ("kind", "reply", "wait"),
    [
        ("telegram", {"headers": JSON, "body": json.dumps(TELEGRAM_429).encode()}, 30.0),
        ("discord", {"headers": JSON, "body": json.dumps(DISCORD_429).encode()}, 12.5),
        ("slack", {"headers": {"Retry-After": "7"}, "body": b"rate_limited"}, 7.0),
    ],
)
async def test_a_rate_limit_pauses_the_whole_channel_and_only_it(
    service_factory, http_receiver: HttpReceiver, kind: str, reply: dict[str, Any], wait: float
) -> None:  # type: ignore[no-untyped-def]
    other = HttpReceiver()
    http_receiver.answer(429, **reply)
    try:
        async with service_factory(
            channels=channels(http_receiver.url, other.url, kind), retry_base_seconds=0.01
        ) as svc:
            started = svc.clock.now
            first = await create_alert(svc.client, channels=["limited"], source="first")
            await wait_for(lambda: _retrying(svc))
            [row] = await rows(svc, "limited")
            assert row.attempts == 1 and row.next_attempt_at - started == timedelta(seconds=wait)
            until = started + timedelta(seconds=wait)
            assert datetime.fromisoformat(await paused_until(svc, "limited")) == until

            # Meanwhile: the other channel goes, this one's rows wait unattempted.
            http_receiver.answer(200, headers=JSON, body=TELEGRAM_OK)
            for i in range(2):
                await create_alert(svc.client, channels=["limited", "hooks"], source=f"later-{i}")
            await settled(svc, "hooks", sent=2)
            svc.clock.advance(seconds=wait - 0.5)
            svc.app.state.wake_delivery()
            await asyncio.sleep(0.3)  # a claim that would take them has had its chance
            later = [r for r in await rows(svc, "limited") if r.alert_id != _id(first)]
            assert [(r.status, r.attempts) for r in later] == [("pending", 0), ("pending", 0)]
            assert len(http_receiver.requests) == 1 and len(other.requests) == 2

            # The pause over, every row of the channel goes, the first on its second attempt.
            svc.clock.advance(seconds=0.5)
            svc.app.state.wake_delivery()
            await settled(svc, "limited", sent=3)
            assert len(http_receiver.requests) == 4
            assert sorted(r.attempts for r in await rows(svc, "limited")) == [1, 1, 2]
            assert await paused_until(svc, "limited") is None
    finally:
        other.close()


def _id(alert: dict[str, Any]) -> Any:
    import uuid

    return uuid.UUID(alert["id"])


async def _retrying(svc: Service) -> bool:
    return [(r.status, r.attempts) for r in await rows(svc, "limited")] == [("pending", 1)]


async def test_rows_claimed_ahead_are_handed_back_uncounted(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    """One slot, so the worker claims a second row ahead; the first row's 429
    pauses the channel, and the second goes back unattempted."""
    http_receiver.answer(429, headers=JSON, body=json.dumps(TELEGRAM_429).encode())
    async with service_factory(
        channels=channels(http_receiver.url, http_receiver.url, "telegram"),
        default_channels=["limited"],
        delivery_concurrency=1,
        delivery_poll_seconds=3600,
    ) as svc:
        await svc.app.state.delivery_worker.stop()
        for i in range(3):
            await create_alert(svc.client, source=f"db-{i}")
        worker = Dispatcher(
            store=svc.app.state.store,
            notifiers=svc.app.state.notifiers,
            settings=svc.settings,
            clock=svc.clock,
        )
        assert await worker.run_once() == 2  # one in flight, one queued
        await worker.drain()
        found = await rows(svc, "limited")
        assert len(http_receiver.requests) == 1
        assert sorted((r.status, r.attempts) for r in found) == [
            ("pending", 0),
            ("pending", 0),
            ("pending", 1),
        ]
        pause_end = svc.clock.now + timedelta(seconds=30)
        # The one claimed ahead is due at the pause's end; the other was never claimed.
        waiting = sorted(r.next_attempt_at for r in found if r.attempts == 0)
        assert waiting == [found[0].created_at, pause_end]
        # Nothing of the channel is claimed during the pause, by this worker or another.
        assert await worker.run_once() == 0
        svc.clock.advance(seconds=30)
        http_receiver.answer(200, headers=JSON, body=TELEGRAM_OK)
        claimed = await worker.run_once()
        await worker.drain()
        assert claimed == 2  # room for two: one sent, one claimed ahead
        await worker.run_once()
        await worker.drain()
        assert [r.status for r in await rows(svc, "limited")] == ["sent"] * 3
