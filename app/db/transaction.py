"""A transaction of its own, tried again once when its connection was lost
before COMMIT was sent.

A connection that fails (db/outage.py) in the middle of a transaction takes
the transaction with it: the server rolls back what a vanished session had
not committed, so running the whole unit of work again on a new connection
cannot apply it twice. A failure during COMMIT is different: the server may
have committed before the connection went, so that is never repeated and
the caller answers 503. SQLAlchemy has already discarded the failed
connection (db/engine.py marks every connection failure as a disconnect).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.engine import DEFERRABLE, READ_ONLY
from app.db.outage import is_connection_failure

log = logging.getLogger(__name__)

T = TypeVar("T")


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    deferrable: bool = False,
) -> T:
    """`deferrable`: on SQLite, the transaction lets the process's writers
    already waiting for the write lock go first (db/engine.py)."""
    for attempt in (1, 2):
        committing = False
        try:
            async with sessionmaker() as session:
                async with session.begin():
                    if deferrable:
                        await session.connection(execution_options={DEFERRABLE: True})
                    result = await work(session)
                    # Whatever the work left unflushed goes out now, so that a
                    # connection found dead by its first statement (a pooled
                    # one the server ended while idle) fails here, before
                    # COMMIT, and is tried again.
                    await session.flush()
                    committing = True  # leaving the block sends COMMIT
                return result
        except Exception as exc:
            if attempt == 2 or committing or not is_connection_failure(exc):
                raise
            log.warning(
                "database connection lost before COMMIT (%s); running the transaction again",
                type(exc).__name__,
            )
    raise AssertionError("unreachable")


async def read(
    sessionmaker: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """A transaction that only reads, rolled back at the end; on SQLite it
    takes no write lock (db/engine.py). Run again once when its connection
    was lost: a read is always safe to repeat."""
    for attempt in (1, 2):
        try:
            async with sessionmaker() as session:
                await session.connection(execution_options={READ_ONLY: True})
                try:
                    return await work(session)
                finally:
                    await session.rollback()
        except Exception as exc:
            if attempt == 2 or not is_connection_failure(exc):
                raise
            log.warning("database connection lost during a read (%s); reading again", type(exc).__name__)
    raise AssertionError("unreachable")
