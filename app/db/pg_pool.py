"""One autocommitted statement, or one transaction, on the asyncpg pool, safe
against lost connections.

asyncpg's `pool.fetch` hands a connection back to the pool whatever went
wrong on it. A connection whose server session was ended while it sat idle
(pg_terminate_backend, a restart) is not always closed yet: its protocol is
"failed", and every later statement on it failed with "cannot switch to
state 12" until something closed it. Here a connection failure
(db/outage.py) terminates that connection, so the pool opens a new one, and
expires the pool's other connections, which most likely went with it (as
SQLAlchemy does with its pool on a disconnect).

The statement is tried again once, on a new connection, only when it is
certain it never reached the server: the connection could not be made, or
asyncpg refused to write on a broken one. A statement lost in the middle
may have committed (in autocommit, COMMIT is part of it), so it is never
repeated: the caller answers 503.

A transaction (`transaction`) is run again once, on a new connection, when
its connection was lost before COMMIT was sent: the server rolled back what
the vanished session had not committed (as db/transaction.py does for the
ORM's transactions). Lost during COMMIT, it may have committed: never
repeated.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from app.db.outage import failed_before_sending, is_connection_failure

log = logging.getLogger(__name__)

T = TypeVar("T")


async def fetch(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    for attempt in (1, 2):
        sent = False
        try:
            async with _discarding(pool) as connection:
                sent = True  # from here on the statement may reach the server
                return list(await connection.fetch(query, *args))
        except Exception as exc:
            retry = is_connection_failure(exc) and (not sent or failed_before_sending(exc))
            if attempt == 2 or not retry:
                raise
            log.warning(
                "database connection lost before the statement was sent (%s); retrying once", _name(exc)
            )
    raise AssertionError("unreachable")


async def transaction(pool: asyncpg.Pool, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`work` in one transaction on a pool connection, committed when it
    returns, rolled back when it raises."""
    for attempt in (1, 2):
        committing = False
        try:
            async with _discarding(pool) as connection:
                async with connection.transaction():
                    result = await work(connection)
                    committing = True  # leaving the block sends COMMIT
                return result
        except Exception as exc:
            if attempt == 2 or committing or not is_connection_failure(exc):
                raise
            log.warning(
                "database connection lost before COMMIT (%s); running the transaction again", _name(exc)
            )
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def _discarding(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pool connection that a lost connection's error never puts back:
    it is terminated, and the pool's other connections expired."""
    async with pool.acquire() as connection:
        try:
            yield connection
        except Exception as exc:
            if is_connection_failure(exc):
                connection.terminate()  # never back into the pool
                await pool.expire_connections()
            raise


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"
