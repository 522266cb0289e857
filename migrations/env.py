"""Alembic environment: one version tree for PostgreSQL and SQLite.

The URL is the service's own setting unless the caller put one on the config
(`config.attributes["database_url"]`, as the tests do).

On PostgreSQL the upgrade runs under an advisory lock on a fixed key, so two
upgrades started at once (two replicas with `alerts serve --migrate`, a
migrate job beside them) take turns: the second waits, then finds the schema
at head and does nothing. The lock belongs to the migration's connection, so
it is released when the upgrade ends, or when that process dies.
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
    """Take the migration lock (session level), waiting for another upgrade.

    Polled with pg_try_advisory_lock rather than waiting in pg_advisory_lock:
    the connection's statement timeout is for single statements, and another
    upgrade may hold the lock for longer than that.
    """
    lock = text("SELECT pg_try_advisory_lock(:key)").bindparams(key=MIGRATION_LOCK_KEY)
    deadline = time.monotonic() + MIGRATION_LOCK_WAIT_SECONDS
    waiting = False
    while not await connection.scalar(lock):
        await connection.commit()
        if time.monotonic() > deadline:
            raise TimeoutError(f"another migration held the lock for over {MIGRATION_LOCK_WAIT_SECONDS:.0f}s")
        if not waiting:
            log.info("waiting for another migration to finish")
            waiting = True
        await asyncio.sleep(0.2)
    # The lock outlives this transaction; the migrations run in their own.
    await connection.commit()


async def _run_online() -> None:
    engine = create_engine(_database_url(), pool_size=1)
    try:
        async with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                await _lock_migrations(connection)
            await connection.run_sync(_run)
            await connection.commit()
            if postgres:
                unlock = text("SELECT pg_advisory_unlock(:key)").bindparams(key=MIGRATION_LOCK_KEY)
                await connection.execute(unlock)
                await connection.commit()
    finally:
        # On failure the connection is closed here, which releases the lock.
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
