"""Connections behind PgBouncer in transaction mode (db/pooler.py): accepted
by it, leaving nothing prepared on its server connections, and still bound
by the statement timeout. The service's own behaviour through it is the
`pgbouncer` run of the ingest, delivery and escalation tests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from app.db import pooler
from app.db.engine import create_engine
from app.db.pg_ingest import plain_dsn
from app.main import create_app
from app.settings import ConfigError, load_settings
from tests.conftest import REQUIRE_POSTGRES, FakeClock, truncate
from tests.helpers import alert_body
from tests.pgbouncer import PgBouncer

SERVER_SETTINGS = {
    "statement_timeout": "30000",
    "application_name": "alert-service",
    "plan_cache_mode": "auto",
}


def test_the_pooler_needs_postgresql() -> None:
    with pytest.raises(ConfigError, match="database_pooler"):
        load_settings(database_url="sqlite+aiosqlite:///./x.db", database_pooler="pgbouncer")


def test_behind_pgbouncer_there_is_no_statement_cache_and_no_session_setting() -> None:
    options = pooler.connect_options("pgbouncer", command_timeout=30.0, server_settings=SERVER_SETTINGS)
    assert options == {
        "command_timeout": 30.0,
        "statement_cache_size": 0,
        "server_settings": {"application_name": "alert-service"},
    }
    assert pooler.dialect_options("pgbouncer")["prepared_statement_cache_size"] == 0
    assert pooler.dialect_options("pgbouncer")["prepared_statement_name_func"]() == ""  # unnamed
    assert pooler.connect_options("none", command_timeout=30.0, server_settings=SERVER_SETTINGS) == {
        "command_timeout": 30.0,
        "server_settings": SERVER_SETTINGS,
    }


async def _connect(url: str, pooler_name: str) -> asyncpg.Connection:
    options = pooler.connect_options(pooler_name, command_timeout=5.0, server_settings=SERVER_SETTINGS)
    return await asyncpg.connect(plain_dsn(url), timeout=5, **options)


async def test_pgbouncer_refuses_the_direct_settings_and_takes_the_pooler_ones(
    postgresql_pgbouncer_url: str,
) -> None:
    with pytest.raises(asyncpg.PostgresError, match="unsupported startup parameter"):
        await _connect(postgresql_pgbouncer_url, "none")
    conn = await _connect(postgresql_pgbouncer_url, "pgbouncer")
    try:
        assert await conn.fetchval("SHOW application_name") == "alert-service"
    finally:
        await conn.close()


@pytest.fixture
def one_server_bouncer(postgresql_url: str, tmp_path: Path) -> PgBouncer:
    """A PgBouncer with one server connection: whatever a client leaves on
    it, the next client finds."""
    bouncer = PgBouncer(postgresql_url, tmp_path, pool_size=1)
    try:
        bouncer.start()
    except RuntimeError as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PgBouncer NOT TESTED: {exc}")
        pytest.skip(f"PgBouncer NOT TESTED: {exc}")
    return bouncer


async def test_the_service_leaves_no_prepared_statement_on_the_server(
    one_server_bouncer: PgBouncer, clock: FakeClock
) -> None:
    url = one_server_bouncer.url
    try:
        await truncate(url)
        settings = load_settings(database_url=url, database_pooler="pgbouncer")
        app = create_app(settings)
        app.state.clock = clock
        import httpx

        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://alerts.test") as client:
                for n in range(10):
                    body = alert_body(source=f"prepared-{n % 4}")
                    assert (await client.post("/alerts", json=body)).status_code in (200, 201)
                listing = await client.get("/alerts")
                assert listing.status_code == 200 and len(listing.json()["items"]) == 4
                first = listing.json()["items"][0]["id"]
                moved = await client.patch(f"/alerts/{first}/acknowledge", json={"by": "ops"})
                assert moved.status_code == 200
                assert (await client.get("/stats")).status_code == 200
        conn = await _connect(url, "pgbouncer")
        try:
            left = await conn.fetch("SELECT name, statement FROM pg_prepared_statements")
        finally:
            await conn.close()
        assert [dict(row) for row in left] == []
    finally:
        one_server_bouncer.stop()


async def test_a_statement_past_the_timeout_is_cancelled_through_pgbouncer(
    postgresql_pgbouncer_url: str, postgresql_url: str
) -> None:
    """No server-side statement_timeout behind the pooler: the client's
    deadline cancels the statement on the server, and the engine goes on."""
    engine = create_engine(postgresql_pgbouncer_url, pool_size=1, statement_timeout=1.0, pooler="pgbouncer")
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as raised:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(20) /* cancelled-sleep */"))
        assert "timeout" in repr(raised.value).lower(), repr(raised.value)
        assert time.monotonic() - started < 5
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
    admin = await asyncpg.connect(plain_dsn(postgresql_url), timeout=5)
    try:
        for _ in range(50):
            running = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%cancelled-sleep%'"
                " AND pid <> pg_backend_pid()"
            )
            if running == 0:
                break
            await asyncio.sleep(0.1)
        assert running == 0, "the statement kept running on the server"
    finally:
        await admin.close()
