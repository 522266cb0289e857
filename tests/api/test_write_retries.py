"""Write routes on PostgreSQL whose database connection is lost.

A write that is not ingest (lifecycle moves, silences, a channel test, an
escalation tick) runs its transaction again once when its connection was
lost before COMMIT was sent, and answers 503 with Retry-After when it still
fails. The faults are real: the test ends the service's database sessions
with pg_terminate_backend, either between requests (the request finds a
dead connection in the pool) or while the request waits for a lock the test
holds (mid-transaction, after BEGIN and the first statements).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from app.services.silence_limits import _CREATE_LOCK
from tests.conftest import Service
from tests.helpers import alert_body, create_alert, wait_for
from tests.outages import SERVICE_APPLICATION, lock_waiter
from tests.peers import HttpReceiver

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

FAST_PATH_APPLICATION = "alert-service-fast-path"  # the ingest pool's sessions (app/db/pg_ingest.py)
COMMIT_LOCK = 0x7E57_C0DE
SILENCE = {
    "matchers": [{"name": "source", "value": "db-1"}],
    "duration_minutes": 30,
    "created_by": "alice",
    "comment": "maintenance",
}


@pytest.fixture
async def svc(service_factory: Any, http_receiver: HttpReceiver) -> AsyncIterator[Service]:
    # No periodic job may use the pool between the test's steps.
    async with service_factory(
        channels={"hooks": {"type": "webhook", "url": f"{http_receiver.url}/hook"}},
        default_channels=["hooks"],
        enable_escalation=False,
        silence_check_seconds=3600,
    ) as service:
        yield service


async def status_events(svc: Service, alert_id: str) -> list[tuple[str | None, str | None]]:
    detail = (await svc.client.get(f"/alerts/{alert_id}")).json()
    return [(e["from_status"], e["to_status"]) for e in detail["history"] if e["kind"] == "status"]


async def end_idle_sessions(
    svc: Service, admin: asyncpg.Connection, application: str = SERVICE_APPLICATION
) -> None:
    """End the service's pooled sessions (those of `application`) while no request uses them."""

    async def delivered() -> bool:
        left = await admin.fetchval(
            "SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')"
        )
        return bool(left == 0)

    await wait_for(delivered)  # the delivery worker is at rest
    assert (await svc.client.get("/silences")).status_code == 200  # the pool holds a session
    ended = await admin.fetchval(
        """
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1
        """,
        application,
    )
    assert ended >= 1


async def terminate(admin: asyncpg.Connection, pid: int) -> None:
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)


# --- between requests: the request's pooled connection is already dead -------------


async def _acknowledge(svc: Service, admin: asyncpg.Connection) -> None:
    alert = await create_alert(svc.client)
    await end_idle_sessions(svc, admin)
    response = await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "alice"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "acknowledged"
    assert await status_events(svc, alert["id"]) == [("open", "acknowledged")]


async def _close(svc: Service, admin: asyncpg.Connection) -> None:
    alert = await create_alert(svc.client)
    await end_idle_sessions(svc, admin)
    response = await svc.client.patch(f"/alerts/{alert['id']}/status", json={"status": "closed", "by": "bob"})
    assert response.status_code == 200, response.text
    assert await status_events(svc, alert["id"]) == [("open", "closed")]


async def _create_silence(svc: Service, admin: asyncpg.Connection) -> None:
    await end_idle_sessions(svc, admin)
    response = await svc.client.post("/silences", json=SILENCE)
    assert response.status_code == 201, response.text
    assert await admin.fetchval("SELECT count(*) FROM silences") == 1


async def _expire_silence(svc: Service, admin: asyncpg.Connection) -> None:
    silence = (await svc.client.post("/silences", json=SILENCE)).json()
    alert = await create_alert(svc.client, source="db-1")
    assert alert["silenced"] is True
    await end_idle_sessions(svc, admin)
    response = await svc.client.delete(f"/silences/{silence['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "expired"
    unsilenced = await admin.fetchval("SELECT count(*) FROM notifications WHERE reason = 'unsilenced'")
    assert unsilenced == 1  # the held notification was released once


async def _test_channel(svc: Service, admin: asyncpg.Connection) -> None:
    await end_idle_sessions(svc, admin)
    response = await svc.client.post("/channels/hooks/test")
    assert response.status_code == 202, response.text
    assert await admin.fetchval("SELECT count(*) FROM notifications WHERE reason = 'test'") == 1


async def _escalation_tick(svc: Service, admin: asyncpg.Connection) -> None:
    alert = await create_alert(svc.client, severity="critical")
    svc.clock.advance(minutes=31)
    await end_idle_sessions(svc, admin)
    response = await svc.client.post("/escalation/tick")
    assert response.status_code == 200, response.text
    assert [(s["alert_id"], s["to_level"]) for s in response.json()["steps"]] == [(alert["id"], 3)]
    detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
    assert [e["kind"] for e in detail["history"]].count("escalation") == 1


WRITES: dict[str, Callable[[Service, asyncpg.Connection], Awaitable[None]]] = {
    "acknowledge": _acknowledge,
    "status": _close,
    "silence-create": _create_silence,
    "silence-expire": _expire_silence,
    "channel-test": _test_channel,
    "escalation-tick": _escalation_tick,
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_write_on_a_connection_ended_between_requests_is_retried_and_applied_once(
    svc: Service, admin: asyncpg.Connection, retries: Callable[[], int], write: str
) -> None:
    await WRITES[write](svc, admin)
    assert retries() == 1


async def test_a_batch_on_an_ingest_connection_ended_between_requests_is_applied_once(
    svc: Service, admin: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch on PostgreSQL runs in one transaction on the ingest pool
    (app/db/pg_batch.py): a pooled connection found dead before COMMIT runs
    the transaction again on a new one, so every submission counts once."""
    caplog.set_level(logging.WARNING, logger="app.db.pg_pool")
    batch = [alert_body(source="db-1"), alert_body(source="db-2"), alert_body(source="db-1")]
    first = await svc.client.post("/alerts", json=batch)
    assert first.status_code == 200, first.text
    await end_idle_sessions(svc, admin, FAST_PATH_APPLICATION)
    response = await svc.client.post("/alerts", json=batch)
    assert response.status_code == 200, response.text
    assert [(a["source"], a["outcome"], a["occurrences"]) for a in response.json()] == [
        ("db-1", "duplicate", 3),
        ("db-2", "duplicate", 2),
        ("db-1", "duplicate", 4),
    ]
    assert await admin.fetchval("SELECT sum(occurrences) FROM alerts") == 6
    # Found dead by its first statement, or closed by asyncpg before it was lent.
    assert sum("running the transaction again" in r.getMessage() for r in caplog.records) <= 1


# --- mid-transaction: the session ends while the request waits for a lock ----------


async def test_resolve_whose_session_ends_mid_transaction_is_retried_and_applied_once(
    svc: Service, admin: asyncpg.Connection, holder: asyncpg.Connection, retries: Callable[[], int]
) -> None:
    alert = await create_alert(svc.client)
    async with holder.transaction():
        await holder.execute("SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE", alert["id"])
        request = asyncio.create_task(
            svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "alice", "notes": "done"})
        )
        first = await lock_waiter(admin)  # inside the move: BEGIN and SELECT ... FOR UPDATE sent
        await terminate(admin, first)
        await lock_waiter(admin, not_pid=first)  # the second attempt, on a new connection
    response = await request
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "resolved"
    assert await status_events(svc, alert["id"]) == [("open", "resolved")]
    detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
    assert [n["reason"] for n in detail["notifications"]].count("resolved") == 1
    assert retries() == 1


async def test_silence_create_whose_session_ends_mid_transaction_is_retried_and_applied_once(
    svc: Service, admin: asyncpg.Connection, holder: asyncpg.Connection, retries: Callable[[], int]
) -> None:
    await holder.execute("SELECT pg_advisory_lock($1)", _CREATE_LOCK)  # what creates take, per transaction
    try:
        request = asyncio.create_task(svc.client.post("/silences", json=SILENCE))
        first = await lock_waiter(admin)
        await terminate(admin, first)
        await lock_waiter(admin, not_pid=first)
    finally:
        await holder.execute("SELECT pg_advisory_unlock($1)", _CREATE_LOCK)
    response = await request
    assert response.status_code == 201, response.text
    assert await admin.fetchval("SELECT count(*) FROM silences") == 1
    listed = (await svc.client.get("/silences")).json()
    assert [s["id"] for s in listed] == [response.json()["id"]]
    assert retries() == 1


async def test_a_second_loss_answers_503_with_retry_after_and_applies_nothing(
    svc: Service, admin: asyncpg.Connection, holder: asyncpg.Connection, retries: Callable[[], int]
) -> None:
    alert = await create_alert(svc.client)
    async with holder.transaction():
        await holder.execute("SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE", alert["id"])
        request = asyncio.create_task(
            svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "alice"})
        )
        first = await lock_waiter(admin)
        await terminate(admin, first)
        await terminate(admin, await lock_waiter(admin, not_pid=first))
    response = await request
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"]
    assert retries() == 1  # once, not again
    assert await status_events(svc, alert["id"]) == []
    assert (await svc.client.get(f"/alerts/{alert['id']}")).json()["status"] == "open"


# --- during COMMIT: never run again ------------------------------------------------


@pytest.fixture
async def commit_waits_for_lock(admin: asyncpg.Connection) -> AsyncIterator[None]:
    """A deferred trigger on alert_events: a transaction that wrote history
    waits, inside COMMIT, for an advisory lock the test may hold."""
    await admin.execute(
        f"""
        CREATE FUNCTION test_wait_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock({COMMIT_LOCK}); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER test_wait_at_commit AFTER INSERT ON alert_events
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_wait_at_commit();
        """
    )
    try:
        yield
    finally:
        await admin.execute(
            "DROP TRIGGER test_wait_at_commit ON alert_events; DROP FUNCTION test_wait_at_commit();"
        )


async def test_a_session_lost_during_commit_is_not_run_again_and_answers_503(
    svc: Service,
    admin: asyncpg.Connection,
    holder: asyncpg.Connection,
    retries: Callable[[], int],
    commit_waits_for_lock: None,
) -> None:
    alert = await create_alert(svc.client)
    await holder.execute("SELECT pg_advisory_lock($1)", COMMIT_LOCK)
    try:
        request = asyncio.create_task(
            svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "alice"})
        )
        waiter = await lock_waiter(admin)
        query = await admin.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", waiter)
        assert query.strip().rstrip(";").upper() == "COMMIT"  # the session was inside COMMIT when it ended
        await terminate(admin, waiter)
    finally:
        # Released before the answer: a transaction run again would now
        # commit and answer 200.
        await holder.execute("SELECT pg_advisory_unlock($1)", COMMIT_LOCK)
    response = await request
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"]
    assert retries() == 0
    # This COMMIT had not completed, so nothing was applied; the client's
    # retry after Retry-After is what applies it.
    assert await status_events(svc, alert["id"]) == []
    again = await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "alice"})
    assert again.status_code == 200, again.text
    assert await status_events(svc, alert["id"]) == [("open", "acknowledged")]
