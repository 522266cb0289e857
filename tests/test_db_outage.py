"""Database connections lost under load: 503 with Retry-After, never 500, and
nothing acknowledged is lost.

The classifier (app/db/outage.py) is checked against the errors each driver
really raises; the two retry paths (one statement on the asyncpg pool, one
ORM transaction) against fakes that fail where we choose. Then a real server
process on PostgreSQL takes a stream of submissions while the test ends the
service's database sessions ten times with pg_terminate_backend, as an
operator or a failover would.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asyncpg import exceptions as pg_exc
from sqlalchemy import exc as sa_exc

from app.api.auth import hash_key
from app.db import pg_pool, transaction
from app.db.outage import failed_before_sending, is_connection_failure, is_database_outage
from app.db.pg_ingest import plain_dsn
from tests.conftest import truncate
from tests.helpers import alert_body, wait_for
from tests.peers import HttpReceiver
from tests.server import ServerProcess

# --- the classifier ----------------------------------------------------------------

FAILED_STATE = 'cannot switch to state 12; protocol is in the "failed" state'


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def _orm(driver_error: BaseException, kind: type[sa_exc.DBAPIError] = sa_exc.DBAPIError) -> BaseException:
    """As SQLAlchemy's asyncpg adapter raises it: its own error, asyncpg's as the cause."""
    adapted = _caused(Exception(str(driver_error)), driver_error)
    return kind("SELECT 1", {}, adapted)  # type: ignore[arg-type]


# (error, outage, connection failure, certainly not sent)
CASES: list[tuple[str, BaseException, bool, bool, bool]] = [
    ("state 12 (idle connection killed)", pg_exc.InternalClientError(FAILED_STATE), True, True, True),
    ("not connected", pg_exc.InternalClientError("not connected"), True, True, True),
    ("asyncpg: connection is closed", pg_exc.InterfaceError("connection is closed"), True, True, True),
    (
        "closed mid-statement",
        _caused(
            pg_exc.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
            pg_exc.AdminShutdownError("terminating connection due to administrator command"),
        ),
        True,
        True,
        False,
    ),
    ("admin shutdown", pg_exc.AdminShutdownError("terminating connection"), True, True, False),
    ("crash shutdown", pg_exc.CrashShutdownError("crash"), True, True, False),
    (
        "cannot connect now",
        pg_exc.CannotConnectNowError("the database system is starting up"),
        True,
        True,
        True,
    ),
    ("connection failure", pg_exc.ConnectionFailureError("broken"), True, True, False),
    ("too many connections", pg_exc.TooManyConnectionsError("too many"), True, True, True),
    ("connection refused", ConnectionRefusedError(111, "refused"), True, True, True),
    ("connection reset", ConnectionResetError(104, "reset"), True, True, False),
    ("OSError", OSError("no route to host"), True, True, False),
    ("ORM: state 12", _orm(pg_exc.InternalClientError(FAILED_STATE)), True, True, True),
    (
        "ORM: invalidated",
        sa_exc.DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
        True,
        True,
        False,
    ),
    ("ORM: OperationalError", sa_exc.OperationalError("SELECT 1", {}, Exception("x")), True, False, False),
    (
        "SQLite: database is locked",
        sa_exc.OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")),
        True,
        False,
        False,
    ),
    (
        "statement timeout",
        pg_exc.QueryCanceledError("canceling statement due to statement timeout"),
        True,
        False,
        False,
    ),
    ("client timeout", TimeoutError(), True, False, False),
    ("pool timeout", sa_exc.TimeoutError("QueuePool limit"), True, False, False),
    # Not outages: a bug or bad data must stay a 500 that someone reads.
    ("unique violation", pg_exc.UniqueViolationError("duplicate key"), False, False, False),
    ("NUL in text", pg_exc.CharacterNotInRepertoireError("invalid byte sequence"), False, False, False),
    ("asyncpg: bad argument", pg_exc.DataError("invalid input for query argument $1"), False, False, False),
    (
        "ORM: bad argument",
        _orm(pg_exc.DataError("invalid input"), sa_exc.InterfaceError),
        False,
        False,
        False,
    ),
    ("ORM: integrity", sa_exc.IntegrityError("INSERT", {}, Exception("unique")), False, False, False),
    (
        "stale statement cache",
        pg_exc.OutdatedSchemaCacheError("cached statement plan is invalid"),
        False,
        False,
        False,
    ),
    ("ValueError", ValueError("x"), False, False, False),
]


@pytest.mark.parametrize(
    ("error", "outage", "lost", "not_sent"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classifier(error: BaseException, outage: bool, lost: bool, not_sent: bool) -> None:
    assert is_database_outage(error) is outage
    assert is_connection_failure(error) is lost
    assert failed_before_sending(error) is not_sent


# --- one statement on the asyncpg pool ----------------------------------------------


class FakeConnection:
    def __init__(self, pool: FakePool) -> None:
        self.pool = pool
        self.terminated = False

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.pool.statements += 1
        outcome = self.pool.script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return [outcome]

    def terminate(self) -> None:
        self.terminated = True
        self.pool.terminated += 1


class FakePool:
    """Each acquire() takes the next entry of `connects` (an error, or None to connect)."""

    def __init__(self, script: list[Any], connects: list[BaseException | None] | None = None) -> None:
        self.script = script
        self.connects = connects or []
        self.statements = 0
        self.terminated = 0
        self.expired = 0

    def acquire(self) -> Any:
        pool = self

        class _Acquire:
            async def __aenter__(self) -> FakeConnection:
                failure = pool.connects.pop(0) if pool.connects else None
                if failure is not None:
                    raise failure
                return FakeConnection(pool)

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Acquire()

    async def expire_connections(self) -> None:
        self.expired += 1


async def test_pool_retries_once_a_statement_that_never_left() -> None:
    pool = FakePool([pg_exc.InternalClientError(FAILED_STATE), "row"])
    assert await pg_pool.fetch(pool, "SELECT") == ["row"]  # type: ignore[arg-type]
    assert (pool.statements, pool.terminated, pool.expired) == (2, 1, 1)  # the broken one discarded

    pool = FakePool(["row"], connects=[ConnectionRefusedError(111, "refused")])
    assert await pg_pool.fetch(pool, "SELECT") == ["row"]  # type: ignore[arg-type]


async def test_pool_never_repeats_a_statement_that_may_have_committed() -> None:
    lost = pg_exc.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    pool = FakePool([lost, "row"])
    with pytest.raises(pg_exc.ConnectionDoesNotExistError):
        await pg_pool.fetch(pool, "SELECT")  # type: ignore[arg-type]
    assert (pool.statements, pool.terminated, pool.expired) == (1, 1, 1)


async def test_pool_retries_once_only_and_not_after_a_timeout() -> None:
    pool = FakePool([pg_exc.InternalClientError(FAILED_STATE)] * 3)
    with pytest.raises(pg_exc.InternalClientError):
        await pg_pool.fetch(pool, "SELECT")  # type: ignore[arg-type]
    assert pool.statements == 2

    pool = FakePool(["row"], connects=[TimeoutError()])  # waiting again would double the client's wait
    with pytest.raises(TimeoutError):
        await pg_pool.fetch(pool, "SELECT")  # type: ignore[arg-type]

    pool = FakePool([pg_exc.UniqueViolationError("duplicate key"), "row"])
    with pytest.raises(pg_exc.UniqueViolationError):
        await pg_pool.fetch(pool, "SELECT")  # type: ignore[arg-type]
    assert (pool.statements, pool.terminated) == (1, 0)  # a healthy connection is kept


# --- one ORM transaction -----------------------------------------------------------


class FakeSessions:
    """A sessionmaker whose COMMIT fails with `commit_errors`, in turn."""

    def __init__(self, commit_errors: list[BaseException | None]) -> None:
        self.commit_errors = commit_errors
        self.commits = 0

    def __call__(self) -> Any:
        sessions = self

        class _Transaction:
            async def __aenter__(self) -> None:
                return None

            async def __aexit__(self, kind: object, *rest: object) -> None:
                if kind is None:
                    failure = sessions.commit_errors.pop(0) if sessions.commit_errors else None
                    if failure is not None:
                        raise failure
                    sessions.commits += 1

        class _Session:
            async def __aenter__(self) -> _Session:
                return self

            async def __aexit__(self, *exc: object) -> None:
                return None

            def begin(self) -> _Transaction:
                return _Transaction()

            async def flush(self) -> None:
                return None

        return _Session()


async def test_transaction_lost_before_commit_runs_again_once() -> None:
    calls: list[int] = []

    async def work(_: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise _orm(pg_exc.InternalClientError(FAILED_STATE))
        return "done"

    sessions = FakeSessions([])
    assert await transaction.run(sessions, work) == "done"  # type: ignore[arg-type]
    assert len(calls) == 2 and sessions.commits == 1


async def test_transaction_lost_during_commit_is_never_repeated() -> None:
    calls: list[int] = []

    async def work(_: Any) -> str:
        calls.append(1)
        return "done"

    lost = _orm(pg_exc.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    with pytest.raises(sa_exc.DBAPIError):
        await transaction.run(FakeSessions([lost]), work)  # type: ignore[arg-type]
    assert len(calls) == 1

    async def conflicting(_: Any) -> str:
        calls.append(1)
        raise sa_exc.IntegrityError("INSERT", {}, Exception("unique"))

    calls.clear()
    with pytest.raises(sa_exc.IntegrityError):
        await transaction.run(FakeSessions([]), conflicting)  # type: ignore[arg-type]
    assert len(calls) == 1  # not an outage: not retried


# --- a real server while its database sessions are terminated ----------------------

ADMIN_KEY = "outage-admin-key-0123456789abcdefghij"
SUBMITTERS = 8
TERMINATIONS = 10
APPLICATION_NAMES = ("alert-service", "alert-service-fast-path")


@pytest.fixture
async def pg(postgresql_url: str) -> str:
    await truncate(postgresql_url)
    return postgresql_url


@pytest.fixture
def server(pg: str, http_receiver: HttpReceiver, tmp_path: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "alerts.toml"
    config.write_text(
        f"""
default_channels = ["hooks"]
[channels.hooks]
type = "webhook"
url = "{http_receiver.url}/hook"

[[api_keys]]
name = "ops"
hash = "{hash_key(ADMIN_KEY)}"
scopes = ["admin"]
"""
    )
    env = {
        "ALERTS_CONFIG_FILE": str(config),
        "ALERTS_DATABASE_URL": pg,
        "ALERTS_ESCALATION_INTERVAL_SECONDS": "0.2",  # the ticker runs through the outages too
        "ALERTS_SILENCE_CHECK_SECONDS": "0.2",
        "ALERTS_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        "ALERTS_DELIVERY_POLL_SECONDS": "0.2",
        "ALERTS_DELIVERY_LEASE_SECONDS": "2",
        "ALERTS_RETRY_BASE_SECONDS": "0.1",
        "ALERTS_RETRY_MAX_SECONDS": "0.5",
        "ALERTS_MAX_ATTEMPTS": "20",
        "ALERTS_LOG_LEVEL": "warning",
    }
    process = ServerProcess(env, tmp_path / "server.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=SUBMITTERS * 2)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30, limits=limits
    ) as http:
        yield http


async def _terminate_service_sessions(admin: asyncpg.Connection) -> int:
    """End every session of the service on this database (not the test's own)."""
    killed: int = await admin.fetchval(
        """
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ANY($1::text[])
        """,
        list(APPLICATION_NAMES),
    )
    return killed


async def test_terminated_database_sessions_under_load_answer_503_and_lose_nothing(
    pg: str, server: ServerProcess, client: httpx.AsyncClient
) -> None:
    base = server.url
    answers: list[httpx.Response] = []
    stop = asyncio.Event()

    async def submitter(worker: int) -> None:
        i = 0
        while not stop.is_set():
            # Distinct identities (new alerts) and a few shared by every
            # submitter (duplicates racing each other in one batch).
            source = f"w{worker}-{i}" if i % 2 == 0 else f"shared-{i % 3}"
            answers.append(await client.post(f"{base}/alerts", json=alert_body(source=source)))
            i += 1

    admin = await asyncpg.connect(plain_dsn(pg))
    try:
        tasks = [asyncio.create_task(submitter(w)) for w in range(SUBMITTERS)]
        await asyncio.sleep(0.5)
        killed = []
        for _ in range(TERMINATIONS):
            killed.append(await _terminate_service_sessions(admin))
            await asyncio.sleep(0.4)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks)

        statuses = Counter(r.status_code for r in answers)
        print(f"\n{len(answers)} submissions: {dict(statuses)}; sessions terminated per round: {killed}")
        assert sum(killed) >= TERMINATIONS, killed  # the service's sessions were really ended
        assert statuses[500] == 0, [r.text for r in answers if r.status_code == 500][:3]
        unavailable = [r for r in answers if r.status_code >= 500]
        for response in unavailable:
            assert response.status_code == 503, response.text
            assert response.headers.get("Retry-After"), response.headers
            assert response.json()["code"] == "database_unavailable"
        assert {r.status_code for r in answers} <= {200, 201, 503}, statuses

        acknowledged = Counter(r.json()["id"] for r in answers if r.status_code in (200, 201))
        rows = {
            str(row["id"]): row["occurrences"]
            for row in await admin.fetch("SELECT id, occurrences FROM alerts WHERE source <> 'after'")
        }
        for alert_id, times in acknowledged.items():
            assert alert_id in rows, f"acknowledged alert {alert_id} was not stored"
            assert rows[alert_id] >= times, (alert_id, rows[alert_id], times)
        # Beyond what was acknowledged, only what a 503 may have committed
        # before its connection went (a retry never adds a second one).
        assert sum(rows.values()) <= sum(acknowledged.values()) + len(unavailable)

        async def ready() -> bool:
            return (await client.get(f"{base}/readyz")).status_code == 200

        await wait_for(ready, timeout=30)
        after = await client.post(f"{base}/alerts", json=alert_body(source="after"))
        assert after.status_code == 201, after.text

        async def everything_delivered() -> bool:
            left = await admin.fetchval("SELECT count(*) FROM notifications WHERE status <> 'sent'")
            return bool(left == 0)

        # Delivery carried on through the outages: every queued notification went out.
        await wait_for(everything_delivered, timeout=60)
    finally:
        await admin.close()

    assert server.proc is not None and server.proc.poll() is None, server.log()
    log = server.log(tail=None)
    # Every failure was seen as an outage: no unhandled error, no worker
    # failure logged with a traceback, none of asyncpg's "state 12" as a 500.
    for unexpected in ("unhandled error", "run failed", "failed unexpectedly", "Traceback"):
        assert unexpected not in log, log[-5000:]
