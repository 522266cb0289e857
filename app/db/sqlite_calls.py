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
call into this thread: the lock is held for the database's own work. Nor
does it wait in SQLite's busy handler while another process (a second
uvicorn worker) writes, which would hold this process's turn all the while:
it gives the turn back and tries again, at the busy handler's pace.

The writes still take their turn in the process's queue (deferrable: they
let the writers already waiting go first), and those asked for while one
waits for its turn or runs share the next transaction (group commit: the
delivery's claim and its batch of results, often asked for together, are
one write, not two). Reads take no turn. The thread and its connection end
when the engine is disposed.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from app.db.engine import READ_ONLY, SQLITE_BUSY_TIMEOUT_SECONDS, configure_sqlite, writer_queue

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
        event.listen(self._engine, "connect", _configure)
        event.listen(self._engine, "begin", _begin)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-calls")
        self._pending: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a write transaction (BEGIN IMMEDIATE ... COMMIT),
        in the process's queue of writers, letting those waiting go first.
        Works asked for while another transaction waits or runs share the
        next one (a claim and a batch of results: one transaction)."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((work, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="sqlite-calls")
        return cast(T, await done)

    async def _write(self) -> None:
        batch: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._call(batch)
                except Exception as exc:  # each caller's, as if it had written alone
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), result in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(result)
        finally:
            self._writer = None
            for _, done in [*batch, *self._pending]:
                done.cancel()  # stopped: a caller waits no more (a no-op when answered)

    async def _call(self, batch: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]]) -> list[Any]:
        """One transaction for the batch (and for whatever joins it while it
        waits), in this process's turn; while another process writes, the
        turn is given back between tries (see _retrying)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SQLITE_BUSY_TIMEOUT_SECONDS
        for delay in _retrying():
            async with self._writers.turn(deferrable=True):
                # Asked for while this one waited: the same transaction (the
                # caller's list grows, so it answers them too).
                batch.extend(self._pending)
                self._pending = []
                works = [work for work, _ in batch]
                try:
                    return await loop.run_in_executor(
                        self._thread, self._run, functools.partial(_each, works), False
                    )
                except OperationalError as exc:
                    if not _busy(exc) or loop.time() + delay > deadline:
                        raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction that only reads (no write lock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SQLITE_BUSY_TIMEOUT_SECONDS
        for delay in _retrying():
            try:
                return await loop.run_in_executor(self._thread, self._run, work, True)
            except OperationalError as exc:  # rare in WAL mode: a reader waits only in recovery
                if not _busy(exc) or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _run(self, work: Callable[[Connection], T], read_only: bool) -> T:
        with self._engine.connect() as connection:
            if read_only:
                connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                return work(connection)

    def close(self) -> None:
        self._thread.submit(self._engine.dispose)
        self._thread.shutdown(wait=False)


def _retrying() -> Iterator[float]:
    """The pauses between tries while another process holds the write lock,
    taken outside this process's turn, so its submissions do not wait for
    them. Longer than the first of SQLite's own busy handler (1, 2, 5 ...
    100 ms), which the other process's writers wait in: polling faster than
    they do, a delivery would win the lock from them every time (a trial
    starting at 1 ms made the other worker's batches slower), and it is the
    one that may wait."""
    yield from (0.025, 0.05)
    while True:
        yield 0.1


def _busy(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


def _configure(dbapi_connection: Any, record: Any) -> None:
    configure_sqlite(dbapi_connection, record)
    # No waiting in SQLite's busy handler, which would hold this process's
    # turn meanwhile: a busy write is tried again (OneCall._call).
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def _each(works: list[Callable[[Connection], Any]], connection: Connection) -> list[Any]:
    return [work(connection) for work in works]


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
