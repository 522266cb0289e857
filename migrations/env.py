"""Alembic environment: one version tree for PostgreSQL and SQLite.

The URL is the service's own setting unless the caller put one on the config
(`config.attributes["database_url"]`, as the tests do).

On PostgreSQL the upgrade runs under an advisory lock on a fixed key, so two
upgrades started at once (two replicas with `alerts serve --migrate`, a
migrate job beside them) take turns: the second waits, then finds the schema
at head and does nothing. The lock is taken in the upgrade's own transaction
(every migration runs in that one transaction) and released with it, when
the upgrade commits, fails, or its process dies. A session lock held across
transactions would not survive a transaction-mode pooler (db/pooler.py),
which may run each transaction on another server connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import create_engine
from app.models import Base
from app.settings import load_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
log = logging.getLogger("alembic.env")

# pg_advisory_lock key for migrations: the bytes of "alertmig". Advisory locks
# are per database, so this serialises the upgrades of one database only.
MIGRATION_LOCK_KEY = 0x616C6572746D6967
# How long an upgrade waits for another one to finish before giving up.
MIGRATION_LOCK_WAIT_SECONDS = 600.0


def _database_url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else load_settings().database_url


def _database_pooler(url: str) -> str:
    """The pooler between here and the database (db/pooler.py): the caller's,
    else the setting (`database_pooler`, for this URL)."""
    pooler = config.attributes.get("database_pooler")
    if pooler:
        return str(pooler)
    return load_settings(database_url=url).database_pooler if url.startswith("postgresql") else "none"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies tables.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _lock_migrations(connection: AsyncConnection) -> None:
    """Take the migration lock in the transaction the migrations will run in,
    waiting for another upgrade.

    Polled with pg_try_advisory_xact_lock rather than waiting in
    pg_advisory_xact_lock: the connection's statement timeout is for single
    statements, and another upgrade may hold the lock for longer than that.
    A failed try leaves the transaction usable.
    """
    lock = text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=MIGRATION_LOCK_KEY)
    deadline = time.monotonic() + MIGRATION_LOCK_WAIT_SECONDS
    waiting = False
    while not await connection.scalar(lock):
        if time.monotonic() > deadline:
            raise TimeoutError(f"another migration held the lock for over {MIGRATION_LOCK_WAIT_SECONDS:.0f}s")
        if not waiting:
            log.info("waiting for another migration to finish")
            waiting = True
        await asyncio.sleep(0.2)


async def _run_online() -> None:
    url = _database_url()
    engine = create_engine(url, pool_size=1, pooler=_database_pooler(url))
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await _lock_migrations(connection)
            # In the transaction begun above: alembic runs inside it.
            await connection.run_sync(_run)
            await connection.commit()  # releases the lock
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
