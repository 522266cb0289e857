"""Transactions on SQLite run whole in one call, on a thread and a
connection of their own (one per engine), for the delivery worker's writes
(db/sqlite_delivery.py).

Through aiosqlite every statement is several hops between the event loop
and the driver's thread (a cursor, the statement, its rows, closing it),
and BEGIN and COMMIT are hops too. A write transaction holds SQLite's write
lock, and this process's queue for it (db/engine.py), across all of them,
and while the event loop is busy (a batch of alerts being worked out, a
burst of notifications rendered) every hop waits its turn: a claim of three
statements held the lock for tens of milliseconds, most of it waiting for
the event loop. Here the transaction, BEGIN IMMEDIATE to COMMIT, is one
call into this thread: the lock is held for the database's own work.

The writes still take their turn in the process's queue (deferrable: they
let the writers already waiting go first); reads take none. The thread and
its connection end when the engine is disposed.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from app.db.engine import READ_ONLY, configure_sqlite, writer_queue

T = TypeVar("T")


class OneCall:
    def __init__(self, engine: AsyncEngine) -> None:
        self._writers = writer_queue(engine)
        # One connection, used by the one thread only.
        self._engine = create_engine(
            engine.url.set(drivername="sqlite"),
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        event.listen(self._engine, "connect", configure_sqlite)
        event.listen(self._engine, "begin", _begin)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-calls")

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction (BEGIN IMMEDIATE ... COMMIT),
        in the process's queue of writers, letting those waiting go first."""
        async with self._writers.turn(deferrable=True):
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work, False)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction that only reads (no write lock)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work, True)

    def _run(self, work: Callable[[Connection], T], read_only: bool) -> T:
        with self._engine.connect() as connection:
            if read_only:
                connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                return work(connection)

    def close(self) -> None:
        self._thread.submit(self._engine.dispose)
        self._thread.shutdown(wait=False)


def _begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


_CALLS: weakref.WeakKeyDictionary[Engine, OneCall] = weakref.WeakKeyDictionary()


def of(engine: AsyncEngine) -> OneCall:
    """The engine's one-call runner, made at first use and closed with the engine."""
    calls = _CALLS.get(engine.sync_engine)
    if calls is None:
        calls = _CALLS[engine.sync_engine] = OneCall(engine)
        event.listen(engine.sync_engine, "engine_disposed", _close)
    return calls


def _close(engine: Engine) -> None:
    calls = _CALLS.pop(engine, None)
    if calls is not None:
        calls.close()
