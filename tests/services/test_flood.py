"""Flood control on both databases, against a real HTTP receiver: a channel's
`max_per_minute` individual notifications, the rest folded into one digest
when the clock minute ends, never dropped nor sent twice, one digest however
many replicas deliver."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from app.models import OutboxRow
from app.services.dispatcher import Dispatcher
from tests.conftest import FakeClock, Service
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver
from tests.replicas import replica_dispatchers

SEVERITIES = ["low", "high", "medium", "critical", "info", "high", "low", "critical", "medium", "low"]


def limited(url: str, limit: int = 3) -> dict[str, Any]:
    return {"hooks": {"type": "webhook", "url": url, "max_per_minute": limit}}


async def rows_of(svc_or_sessionmaker: Any) -> list[OutboxRow]:
    sessionmaker = getattr(getattr(svc_or_sessionmaker, "app", None), "state", None)
    sessionmaker = sessionmaker.sessionmaker if sessionmaker is not None else svc_or_sessionmaker
    async with sessionmaker() as session:
        return list(await session.scalars(select(OutboxRow).order_by(OutboxRow.created_at, OutboxRow.id)))


def by_status(rows: list[OutboxRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def check_digest(receiver: HttpReceiver, alerts: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """Every alert reached the receiver exactly once: alone, or in the one digest."""
    bodies = [json.loads(request.body) for request in receiver.requests]
    singles = [body for body in bodies if body["reason"] != "digest"]
    [digest] = [body for body in bodies if body["reason"] == "digest"]
    assert len(singles) == limit
    listed = [item["alert"]["id"] for item in digest["digest"]]
    assert len(listed) == len(alerts) - limit
    delivered = [body["alert"]["id"] for body in singles] + listed
    assert sorted(delivered) == sorted(alert["id"] for alert in alerts)  # none lost, none twice
    ranks = ["info", "low", "medium", "high", "critical"]
    severities = [ranks.index(item["alert"]["severity"]) for item in digest["digest"]]
    assert severities == sorted(severities, reverse=True)  # most severe first
    ids = [request.headers["idempotency-key"] for request in receiver.requests]
    assert len(set(ids)) == len(ids)
    return digest


async def test_past_the_limit_alerts_are_folded_into_one_digest_at_the_minute_end(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(channels=limited(http_receiver.url), default_channels=["hooks"]) as svc:
        svc.clock.advance(seconds=20)  # 09:00:20, inside the minute 09:00
        alerts = [
            await create_alert(svc.client, source=f"db-{i}", severity=severity)
            for i, severity in enumerate(SEVERITIES)
        ]

        async def settled() -> bool:
            counts = by_status(await rows_of(svc))
            return counts.get("sent") == 3 and counts.get("folded") == 7

        await wait_for(settled)
        rows = await rows_of(svc)
        [digest] = [row for row in rows if row.reason == "digest"]
        assert digest.status == "pending" and digest.alert_id is None
        assert (
            digest.window_start is not None and digest.window_start.isoformat() == "2026-01-05T09:00:00+00:00"
        )
        assert digest.next_attempt_at.isoformat() == "2026-01-05T09:01:00+00:00"
        folded = [row for row in rows if row.status == "folded"]
        assert {row.digest_id for row in folded} == {digest.id}
        assert all(row.attempts == 0 for row in folded)  # never attempted one by one
        assert len(http_receiver.requests) == 3

        # The minute is not over: nothing more goes out.
        svc.clock.advance(seconds=39)
        svc.app.state.wake_delivery()
        await asyncio.sleep(0.3)
        assert len(http_receiver.requests) == 3

        # 09:01:00: the digest is due.
        svc.clock.advance(seconds=1)
        svc.app.state.wake_delivery()
        await wait_for(lambda: _received(http_receiver, 4))
        body = check_digest(http_receiver, alerts, limit=3)
        assert body["notification_id"] == str(digest.id)
        await wait_for(lambda: _digest_sent(svc))

        figures = {c["name"]: c for c in (await svc.client.get("/channels")).json()}
        hooks = figures["hooks"]
        assert hooks["max_per_minute"] == 3 and hooks["paused_until"] is None
        assert (hooks["sent"], hooks["folded"], hooks["folded_last_hour"], hooks["pending"]) == (4, 7, 7, 0)
        assert figures["console"]["max_per_minute"] is None
        stats = (await svc.client.get("/stats")).json()
        assert stats["channels"]["hooks"]["folded"] == 7 and stats["channels"]["hooks"]["sent"] == 4

        # A folded notification shows its digest on the alert.
        detail = (await svc.client.get(f"/alerts/{alerts[-1]['id']}")).json()
        [row] = detail["notifications"]
        assert row["status"] == "folded" and row["digest_id"] == str(digest.id)

        # An hour later the fold is no longer "recent"; the total stays.
        svc.clock.advance(minutes=61)
        hooks = {c["name"]: c for c in (await svc.client.get("/channels")).json()}["hooks"]
        assert (hooks["folded"], hooks["folded_last_hour"]) == (7, 0)


async def test_the_next_minute_has_a_fresh_share(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(channels=limited(http_receiver.url, 2), default_channels=["hooks"]) as svc:
        for i in range(3):
            await create_alert(svc.client, source=f"a-{i}")
        await wait_for(lambda: _statuses(svc, {"sent": 2, "folded": 1, "pending": 1}))
        svc.clock.advance(minutes=1)  # 09:01: the digest of 09:00, and a new share
        for i in range(2):
            await create_alert(svc.client, source=f"b-{i}")
        svc.app.state.wake_delivery()
        await wait_for(lambda: _statuses(svc, {"sent": 5, "folded": 1}))
        reasons = sorted(json.loads(r.body)["reason"] for r in http_receiver.requests)
        assert reasons == ["digest", "new", "new", "new", "new"]


async def test_a_test_notification_and_retries_take_no_share(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer_sequence([500, 200])
    async with service_factory(
        channels=limited(http_receiver.url, 1), default_channels=["hooks"], retry_base_seconds=0.01
    ) as svc:
        alert = await create_alert(svc.client)
        await wait_for(lambda: _statuses(svc, {"pending": 1}))
        await wait_for(lambda: _received(http_receiver, 1))
        assert (await svc.client.post("/channels/hooks/test")).status_code == 202
        await wait_for(lambda: _statuses(svc, {"pending": 1, "sent": 1}))
        svc.clock.advance(seconds=1)  # the failed first attempt's retry, same minute
        svc.app.state.wake_delivery()
        await wait_for(lambda: _received(http_receiver, 3))
        reasons = [json.loads(r.body)["reason"] for r in http_receiver.requests]
        assert reasons == ["new", "test", "new"]
        detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
        assert detail["notifications"][0]["attempts"] == 2


async def _statuses(svc: Service, expected: dict[str, int]) -> bool:
    return by_status(await rows_of(svc)) == expected


async def _received(receiver: HttpReceiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def _digest_sent(svc: Service) -> bool:
    return any(row.reason == "digest" and row.status == "sent" for row in await rows_of(svc))


@pytest.mark.parametrize(
    ("database_url", "one_statement"),
    [
        ("sqlite", False),
        ("postgresql", False),
        ("postgresql", True),
    ],  # the one-statement store is PostgreSQL's
    ids=["sqlite-orm", "postgresql-orm", "postgresql-one-statement"],
    indirect=["database_url"],
)
async def test_two_replicas_make_one_digest(
    service_factory,
    database_url: str,
    clock: FakeClock,
    http_receiver: HttpReceiver,
    one_statement: bool,
) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(
        channels=limited(http_receiver.url, 3), default_channels=["hooks"], delivery_concurrency=4
    ) as svc:
        await svc.app.state.delivery_worker.stop()
        clock.advance(seconds=30)
        alerts = [
            await create_alert(svc.client, source=f"db-{i}", severity=severity)
            for i, severity in enumerate(SEVERITIES)
        ]
        settings = svc.settings
        async with replica_dispatchers(
            database_url, settings, one_statement=one_statement, clock=clock
        ) as workers:

            async def run(worker: Dispatcher) -> None:
                for _ in range(20):
                    await worker.run_once()
                    await asyncio.sleep(0.01)
                await worker.drain()

            await asyncio.gather(*(run(w) for w in workers))
            rows = await rows_of(svc)
            assert by_status(rows) == {"sent": 3, "folded": 7, "pending": 1}
            assert len(http_receiver.requests) == 3
            clock.advance(seconds=30)  # 09:01:00
            await asyncio.gather(*(run(w) for w in workers))
        rows = await rows_of(svc)
        assert [row.reason for row in rows].count("digest") == 1
        assert by_status(rows) == {"sent": 4, "folded": 7}
        check_digest(http_receiver, alerts, limit=3)


async def test_a_restarted_worker_keeps_the_count(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    """The minute's count is in the database: a new process (a new
    dispatcher) does not start the share again."""
    async with service_factory(channels=limited(http_receiver.url, 2), default_channels=["hooks"]) as svc:
        for i in range(2):
            await create_alert(svc.client, source=f"a-{i}")
        await wait_for(lambda: _statuses(svc, {"sent": 2}))
        await svc.app.state.delivery_worker.stop()
        fresh = Dispatcher(
            store=svc.app.state.store,
            notifiers=svc.app.state.notifiers,
            settings=svc.settings,
            clock=svc.clock,
        )
        for i in range(2):
            await create_alert(svc.client, source=f"b-{i}")
        await fresh.run_once()
        await fresh.drain()
        assert len(http_receiver.requests) == 2
        assert by_status(await rows_of(svc)) == {"sent": 2, "folded": 2, "pending": 1}


async def test_a_backlog_folds_in_one_claim(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    """Room for four rows a claim, 40 due: the claim picks again while
    folding leaves room, instead of waiting for a poll per four rows."""
    async with service_factory(
        channels=limited(http_receiver.url, 3),
        default_channels=["hooks"],
        delivery_concurrency=2,
        delivery_poll_seconds=3600,
    ) as svc:
        await svc.app.state.delivery_worker.stop()
        for i in range(40):
            await create_alert(svc.client, source=f"db-{i}")
        worker = Dispatcher(
            store=svc.app.state.store,
            notifiers=svc.app.state.notifiers,
            settings=svc.settings,
            clock=svc.clock,
        )
        assert await worker.run_once() == 3
        await worker.drain()
        assert by_status(await rows_of(svc)) == {"sent": 3, "folded": 29, "pending": 9}  # 8 + the digest
        assert await worker.run_once() == 0
        assert by_status(await rows_of(svc)) == {"sent": 3, "folded": 37, "pending": 1}


async def test_a_persons_page_is_never_folded(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    from app.services.escalation import escalate_due
    from tests.oncall.paging_setup import add_policy, add_schedule, add_user, follow

    hooks = limited(http_receiver.url, 1)
    hooks["hooks"]["person_url_prefixes"] = [
        f"{http_receiver.url}/"
    ]  # alice's URL is one the channel may call
    async with service_factory(channels=hooks, default_channels=["hooks"], enable_escalation=False) as svc:
        alice = await add_user(
            svc,
            {
                "name": "alice",
                "contact_methods": [{"type": "webhook", "address": f"{http_receiver.url}/alice"}],
            },
        )
        await add_schedule(svc, "primary", [alice])
        policy = await add_policy(svc, [(0, ["schedule:primary"])])
        alerts = [await create_alert(svc.client, source=f"host-{i}") for i in range(3)]
        for alert in alerts:
            await follow(svc, alert["id"], policy)

        async def folded() -> bool:  # one alert's own notification took the minute's share
            return by_status(await rows_of(svc)) == {"sent": 1, "folded": 2, "pending": 1}

        await wait_for(folded)
        async with svc.app.state.sessionmaker() as session, session.begin():
            await escalate_due(session, now=svc.clock(), settings=svc.settings)
        svc.app.state.wake_delivery()

        async def paged() -> bool:  # the receiver answers before the row is marked sent
            people = [row for row in await rows_of(svc) if row.recipient is not None]
            return len(people) == 3 and {row.status for row in people} == {"sent"}

        await wait_for(paged)
        assert [request.path for request in http_receiver.requests].count("/alice") == 3
