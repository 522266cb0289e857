"""Databases and the app under test.

Every database test runs on SQLite and on PostgreSQL. Migrations are applied
by alembic once per session per database; each test then starts from empty
tables (TRUNCATE, not a rolled-back transaction, because the tests commit for
real: concurrency and workers need it).

PostgreSQL comes from ALERTS_TEST_POSTGRES_URL (default: localhost:5432,
database `test`, user postgres). When no server answers, its half of the
suite is skipped with a loud reason, so `make test` still passes on a laptop;
CI sets ALERTS_REQUIRE_POSTGRES=1, which turns that skip into a failure.

The modules marked `pgbouncer` (the ingest, batch, delivery and escalation
tests, replicas included) run a third time: on the same PostgreSQL database
through a PgBouncer in transaction mode (tests/pgbouncer.py), started once per
session, with `database_pooler = "pgbouncer"`. Without pgbouncer installed
that third run is skipped as loudly, and fails under ALERTS_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import text

from app.db.pg_ingest import plain_dsn
from app.main import create_app
from app.settings import Settings, load_settings
from tests import outages
from tests.live import LiveService, run_service
from tests.peers import HttpReceiver, SmtpRecorder, SmtpServer, free_port
from tests.pgbouncer import PgBouncer

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("ALERTS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@localhost:5432/test")
REQUIRE_POSTGRES = os.environ.get("ALERTS_REQUIRE_POSTGRES") == "1"
TABLES = (
    "notifications",
    "alert_events",
    "heartbeats",
    "channel_messages",
    "alerts",
    "ended_alert_sums",
    "ended_alert_totals",
    "ended_alert_deltas",
    "duration_bucket_totals",
    "duration_bucket_deltas",
    "notification_sums",
    "notification_totals",
    "notification_deltas",
    "routes",
    "escalation_policies",
    "silences",
    "seen_requests",
    "channel_states",
    "schedule_overrides",
    "schedules",
    "user_teams",
    "users",
)


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


async def _reset_pg_schema(url: str) -> None:
    conn = await asyncpg.connect(plain_dsn(url), timeout=5)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgresql_url() -> str:
    try:
        asyncio.run(_reset_pg_schema(POSTGRES_URL))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL NOT TESTED: no server at {POSTGRES_URL} ({exc!r})"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    command.upgrade(alembic_config(POSTGRES_URL), "head")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgresql_pgbouncer_url(postgresql_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The PostgreSQL test database through PgBouncer in transaction mode."""
    bouncer = PgBouncer(postgresql_url, tmp_path_factory.mktemp("pgbouncer"))
    try:
        bouncer.start()
    except RuntimeError as exc:
        message = f"PgBouncer NOT TESTED: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    yield bouncer.url
    bouncer.stop()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'alerts.db'}"
    command.upgrade(alembic_config(url), "head")
    return url


THROUGH_PGBOUNCER = "postgresql-pgbouncer"


@pytest.fixture(params=["sqlite", "postgresql", THROUGH_PGBOUNCER])
def database_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_database(request, monkeypatch, request.param)


def use_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str) -> str:
    """The URL of a test database (sqlite, postgresql, postgresql-pgbouncer);
    through PgBouncer, `database_pooler` is set for every Settings the test
    builds (and for a service process it starts)."""
    url: str = request.getfixturevalue(f"{kind.replace('-', '_')}_url")
    if kind == THROUGH_PGBOUNCER:
        monkeypatch.setenv("ALERTS_DATABASE_POOLER", "pgbouncer")
    return url


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pgbouncer: the module's database tests also run through PgBouncer (transaction mode)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PgBouncer run of a database test only in the modules marked for it."""
    dropped = [
        item for item in items if _through_pgbouncer(item) and item.get_closest_marker("pgbouncer") is None
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        ids = {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) not in ids]


def _through_pgbouncer(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return bool(params.get("database_url") == THROUGH_PGBOUNCER)


async def truncate(url: str) -> None:
    if url.startswith("postgresql"):
        # No statement cache: the URL may lead through PgBouncer.
        conn = await asyncpg.connect(plain_dsn(url), statement_cache_size=0)
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        finally:
            await conn.close()
        return
    from app.db.engine import create_engine

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for table in TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


@pytest.fixture
async def clean_database(database_url: str) -> str:
    await truncate(database_url)
    return database_url


@dataclass
class FakeClock:
    """The app's clock in tests: time moves only when the test says so."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return load_settings(database_url=database_url, **overrides)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    clock: FakeClock


ServiceFactory = Callable[..., Any]


@pytest.fixture
async def service_factory(clean_database: str, clock: FakeClock) -> AsyncIterator[Callable[..., Any]]:
    """Start the app (lifespan included) with settings overrides; yields a
    factory usable as `async with service_factory(**overrides) as svc`."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(*, real_clock: bool = False, **overrides: Any) -> AsyncIterator[Service]:
        settings = make_settings(clean_database, **overrides)
        app = create_app(settings)
        if not real_clock:
            app.state.clock = clock
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://alerts.test") as client:
                yield Service(app, client, settings, clock)

    yield start


@pytest.fixture
async def service(service_factory: Callable[..., Any]) -> AsyncIterator[Service]:
    async with service_factory() as svc:
        yield svc


# --- real peers -----------------------------------------------------------------


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


StartSmtp = Callable[..., SmtpServer]


@pytest.fixture
def smtp_server() -> Iterator[StartSmtp]:
    """Call it to start a server: smtp_server(refuse=..., **aiosmtpd kwargs)."""
    controllers: list[Controller] = []

    def start(*, refuse: set[str] | None = None, data_delay: float = 0.0, **kwargs: Any) -> SmtpServer:
        recorder = SmtpRecorder(refuse or set(), data_delay)
        if kwargs.get("authenticator") is True:
            kwargs["authenticator"] = recorder.authenticate
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, recorder)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def live_service(clean_database: str, tmp_path: Path) -> Iterator[LiveService]:
    """The service as a real process (`alerts serve`) on an empty database."""
    with run_service(clean_database, tmp_path) as svc:
        yield svc


# --- the test's own PostgreSQL sessions (tests/outages.py) ---------------------------


@pytest.fixture
async def admin(clean_database: str) -> AsyncIterator[asyncpg.Connection]:
    """The test's own session: it watches and ends the service's."""
    conn = await asyncpg.connect(plain_dsn(clean_database))
    yield conn
    await conn.close()


@pytest.fixture
async def holder(clean_database: str) -> AsyncIterator[asyncpg.Connection]:
    """A second session of the test's, which holds the locks the service waits for."""
    conn = await asyncpg.connect(plain_dsn(clean_database))
    yield conn
    await conn.close()


@pytest.fixture
def retries(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    caplog.set_level(logging.WARNING, logger="app.db.transaction")

    def count() -> int:
        return sum(
            outages.RETRIED in r.getMessage() for r in caplog.records if r.name == "app.db.transaction"
        )

    return count
