"""Delivery results recorded in batches, on both databases, against a real
HTTP receiver: every sent row ends up `sent` and counted once, failures are
still retried, a lost lease is respected row by row, and a batch that never
commits leaves its rows to be sent again (at least once, never dropped).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.db.outage import is_database_outage
from app.db.store import ClaimedRow, Sent
from app.models import Alert, OutboxRow
from app.services.dispatcher import Dispatcher
from tests.conftest import Service
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)


def webhook(url: str) -> dict[str, Any]:
    return {"type": "webhook", "url": url}


async def outbox(svc: Service) -> list[OutboxRow]:
    async with svc.app.state.sessionmaker() as session:
        return list(await session.scalars(select(OutboxRow)))


async def sent_counts(svc: Service) -> dict[uuid.UUID, int]:
    async with svc.app.state.sessionmaker() as session:
        return {a.id: a.notifications_sent for a in await session.scalars(select(Alert))}


async def test_a_burst_is_recorded_in_batches_and_failures_are_still_retried(
    service_factory, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    good, bad = HttpReceiver(), HttpReceiver()
    good.answer(delay=0.02)
    bad.answer(500)
    batch_sizes: list[int] = []
    try:
        async with service_factory(
            channels={"good": webhook(good.url), "bad": webhook(bad.url)},
            default_channels=["good", "bad"],
            delivery_concurrency=8,
            delivery_poll_seconds=3600,
        ) as svc:
            await svc.app.state.delivery_worker.stop()
            store = svc.app.state.store
            real = store.record

            async def spy(*, sent: Any, **rest: Any) -> dict[uuid.UUID, str | None]:
                if sent:
                    batch_sizes.append(len(sent))
                return await real(sent=sent, **rest)

            monkeypatch.setattr(store, "record", spy)
            alerts = [await create_alert(svc.client, source=f"host-{i}") for i in range(40)]
            worker: Dispatcher = svc.app.state.dispatcher

            async def settled() -> bool:
                await worker.run_once()
                return all(row.status != "sending" and row.attempts == 1 for row in await outbox(svc))

            await wait_for(settled)
            await worker.drain()
            rows = await outbox(svc)
            assert len(rows) == 80
            for row in rows:
                if row.channel == "good":
                    assert row.status == "sent" and row.sent_at is not None and row.duration_ms
                    assert row.lease_until is None and row.last_error is None
                else:
                    assert row.status == "pending" and "500" in (row.last_error or "")
                    assert row.next_attempt_at > svc.clock.now  # backed off, to be retried
            assert await sent_counts(svc) == {uuid.UUID(a["id"]): 1 for a in alerts}
            assert len(good.requests) == 40 and len(bad.requests) == 40
            assert max(batch_sizes) > 1, batch_sizes  # results were grouped, not one per transaction
    finally:
        good.close()
        bad.close()


async def claim(svc: Service, *, limit: int) -> list[ClaimedRow]:
    """A claim as the service's dispatcher makes it, through its store."""
    claimed: list[ClaimedRow] = await svc.app.state.store.claim(
        now=svc.clock.now, limit=limit, lease_seconds=60
    )
    return claimed


async def record(svc: Service, sent: list[tuple[ClaimedRow, float]]) -> set[uuid.UUID]:
    statuses = await svc.app.state.store.record(
        sent=[Sent(row, ms) for row, ms in sent], failed=[], now=svc.clock.now
    )
    return {row_id for row_id, status in statuses.items() if status == "sent"}


async def test_a_lost_lease_is_respected_row_by_row(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(
        channels={"hooks": webhook("http://127.0.0.1:9/")},
        default_channels=["hooks"],
        delivery_poll_seconds=3600,
    ) as svc:
        await svc.app.state.delivery_worker.stop()
        alerts = {uuid.UUID((await create_alert(svc.client, source=f"host-{i}"))["id"]) for i in range(3)}
        old = await claim(svc, limit=10)
        assert {c.alert_id for c in old} == alerts and all(c.attempts == 1 for c in old)
        assert all(c.alert is not None and c.alert["id"] == c.alert_id for c in old)
        assert await claim(svc, limit=10) == []  # leased
        svc.clock.advance(seconds=61)  # the old worker hung: another claims one row again
        [new] = await claim(svc, limit=1)
        assert new.attempts == 2
        marked = await record(svc, [(c, 5.0) for c in old])
        assert marked == {c.id for c in old} - {new.id}
        counts = await sent_counts(svc)
        assert counts[new.alert_id] == 0  # type: ignore[index]
        assert sorted(counts.values()) == [0, 1, 1]
        assert await record(svc, [(new, 7.0)]) == {new.id}
        rows = {row.id: row for row in await outbox(svc)}
        assert all(row.status == "sent" for row in rows.values())
        assert rows[new.id].duration_ms == 7.0 and rows[new.id].attempts == 2
        assert sorted((await sent_counts(svc)).values()) == [1, 1, 1]


async def test_a_batch_that_fails_to_commit_is_sent_again_after_the_lease(
    service_factory, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # The database dropping away between the send and the write of its
    # result cannot be timed from outside, so the first write fails here.
    failures = [ConnectionResetError("database gone")]
    assert is_database_outage(ConnectionResetError())
    async with service_factory(
        channels={"hooks": webhook(http_receiver.url)}, default_channels=["hooks"], delivery_poll_seconds=3600
    ) as svc:
        await svc.app.state.delivery_worker.stop()
        store = svc.app.state.store
        real = store.record

        async def flaky(**kwargs: Any) -> dict[uuid.UUID, str | None]:
            if failures:
                raise failures.pop()
            return await real(**kwargs)

        monkeypatch.setattr(store, "record", flaky)
        alert = await create_alert(svc.client)
        worker: Dispatcher = svc.app.state.dispatcher
        assert await worker.run_once() == 1
        await worker.drain()
        [row] = await outbox(svc)
        assert row.status == "sending" and len(http_receiver.requests) == 1  # sent, not recorded
        assert await worker.run_once() == 0  # still leased
        svc.clock.advance(seconds=61)
        assert await worker.run_once() == 1
        await worker.drain()
        [row] = await outbox(svc)
        assert row.status == "sent" and row.attempts == 2
        assert len(http_receiver.requests) == 2  # at least once: sent again, never dropped
        assert await sent_counts(svc) == {uuid.UUID(alert["id"]): 1}


async def test_submissions_that_queue_notifications_share_one_claim(
    service_factory, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Each submission wakes delivery `INGEST_WAKE_DELAY` later, and the wakes
    of one window share a run: a burst is claimed in one go, not a claim per
    notification."""
    import app.main

    monkeypatch.setattr(app.main, "INGEST_WAKE_DELAY", 1.0)  # the whole burst in one window
    claims: list[int] = []
    receiver = HttpReceiver()
    try:
        async with service_factory(
            channels={"hook": webhook(receiver.url)}, default_channels=["hook"], delivery_poll_seconds=3600
        ) as svc:
            store = svc.app.state.store
            real = store.claim

            async def spy(**kwargs: Any) -> list[ClaimedRow]:
                claimed: list[ClaimedRow] = await real(**kwargs)
                claims.append(len(claimed))
                return claimed

            monkeypatch.setattr(store, "claim", spy)

            async def started() -> bool:
                return svc.app.state.delivery_worker.runs >= 1  # its first run, at start

            await wait_for(started)
            for i in range(10):
                await create_alert(svc.client, source=f"host-{i}")

            async def delivered() -> bool:
                return len(receiver.requests) == 10

            await wait_for(delivered)
            await svc.app.state.dispatcher.drain()
            assert [n for n in claims if n] == [10], claims
            assert all(row.status == "sent" for row in await outbox(svc))
    finally:
        receiver.close()


async def test_a_freed_slot_claims_again_only_after_a_claim_that_filled_its_room(
    service_factory,
) -> None:  # type: ignore[no-untyped-def]
    receiver = HttpReceiver()
    try:
        async with service_factory(
            channels={"hook": webhook(receiver.url)},
            default_channels=["hook"],
            delivery_concurrency=4,
            delivery_poll_seconds=3600,
        ) as svc:
            await svc.app.state.delivery_worker.stop()
            freed: list[int] = []
            worker = Dispatcher(
                store=svc.app.state.store,
                notifiers=svc.app.state.notifiers,
                settings=svc.settings,
                clock=svc.clock,
                on_slot_free=lambda: freed.append(1),
            )
            for i in range(3):
                await create_alert(svc.client, source=f"few-{i}")
            assert await worker.run_once() == 3  # room for 8: nothing more can be waiting
            await worker.drain()
            assert freed == [] and len(receiver.requests) == 3
            for i in range(20):
                await create_alert(svc.client, source=f"many-{i}")
            assert await worker.run_once() == 8  # the room filled: more may be waiting
            await worker.drain()
            assert freed and len(receiver.requests) == 11
    finally:
        receiver.close()
