"""Migrations started twice at once (two replicas with `alerts serve
--migrate`, or a migrate job beside one) take turns under an advisory lock:
both succeed and the schema ends at head."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from app.db.pg_ingest import plain_dsn
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, ROOT, alembic_config

TABLES = {"alerts", "alert_events", "notifications", "silences", "alembic_version"}


def migration_lock_key() -> int:
    match = re.search(
        r"^MIGRATION_LOCK_KEY = (0x[0-9A-Fa-f]+|\d+)$", (ROOT / "migrations" / "env.py").read_text(), re.M
    )
    assert match, "migrations/env.py names no MIGRATION_LOCK_KEY"
    return int(match.group(1), 0)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(plain_dsn(POSTGRES_URL), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A new, empty database on the test server; dropped afterwards."""
    name = f"deploy_mig_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL NOT TESTED: cannot create a database at {POSTGRES_URL} ({exc!r})"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    config = tmp_path / "alerts.toml"
    config.write_text("", encoding="utf-8")
    return config


def start_upgrade(url: str, how: str, config: Path, *, pooler: str = "none") -> subprocess.Popen[str]:
    """`alerts migrate`, or plain `alembic upgrade head` with the URL in the
    environment: both go through migrations/env.py."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    env["ALERTS_CONFIG_FILE"] = str(config)  # never a local alerts.toml
    env["ALERTS_DATABASE_POOLER"] = pooler
    if how == "cli":
        argv = [sys.executable, "-m", "app.cli", "migrate", "--database-url", url]
    else:
        argv = [sys.executable, "-m", "alembic", "upgrade", "head"]
        env["ALERTS_DATABASE_URL"] = url
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> None:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, f"{process.args} failed:\n{out}\n{err}"


async def schema_state(url: str) -> tuple[set[str], list[str], int]:
    conn = await asyncpg.connect(plain_dsn(url), timeout=5)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        versions = [r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")]
        advisory = await conn.fetchval(  # this database's: pg_locks shows every database's
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return tables, versions, advisory
    finally:
        await conn.close()


def assert_at_head(url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    tables, versions, advisory = asyncio.run(schema_state(url))
    assert tables >= TABLES
    assert versions == [head]
    assert advisory == 0, "the migration lock was left held"


def test_concurrent_upgrades_of_an_empty_database_both_succeed(
    fresh_database: str, empty_config: Path
) -> None:
    processes = [
        start_upgrade(fresh_database, how, empty_config) for how in ("cli", "alembic", "cli", "alembic")
    ]
    for process in processes:
        finish(process)
    assert_at_head(fresh_database)


def test_concurrent_upgrades_through_pgbouncer_both_succeed(
    fresh_database: str, empty_config: Path, postgresql_pgbouncer_url: str
) -> None:
    """The migration lock lives in the upgrade's transaction, so a
    transaction-mode pooler, which may run each transaction on another server
    connection, neither loses it nor leaves it held."""
    name = make_url(fresh_database).database
    url = make_url(postgresql_pgbouncer_url).set(database=name).render_as_string(hide_password=False)
    processes = [
        start_upgrade(url, how, empty_config, pooler="pgbouncer") for how in ("cli", "alembic", "cli")
    ]
    for process in processes:
        finish(process)
    assert_at_head(fresh_database)


def test_an_upgrade_waits_while_another_holds_the_migration_lock(
    fresh_database: str, empty_config: Path
) -> None:
    """Deterministic: the test plays the first upgrade by holding the lock."""

    async def scenario() -> None:
        holder = await asyncpg.connect(plain_dsn(fresh_database), timeout=5)
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", migration_lock_key())
            processes = [start_upgrade(fresh_database, how, empty_config) for how in ("cli", "alembic")]
            try:
                # Both connect to the database and wait rather than migrate.
                deadline = time.monotonic() + 60
                while (
                    await holder.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    < 2
                ):
                    assert all(p.poll() is None for p in processes), (
                        "an upgrade ended while the lock was held"
                    )
                    assert time.monotonic() < deadline, "the upgrades never connected"
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)
                assert all(p.poll() is None for p in processes), "an upgrade ran while the lock was held"
                assert await holder.fetchval("SELECT to_regclass('public.alembic_version')") is None
            finally:
                await holder.execute("SELECT pg_advisory_unlock($1)", migration_lock_key())
            for process in processes:
                await asyncio.to_thread(finish, process)
        finally:
            await holder.close()

    asyncio.run(scenario())
    assert_at_head(fresh_database)
