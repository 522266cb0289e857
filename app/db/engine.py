"""Engine and session factory for both databases.

SQLite (the embedded default) allows one writer at a time. A deferred
transaction that reads and then writes can fail with "database is locked" when
another connection wrote in between, and busy_timeout cannot save it. So every
transaction starts with BEGIN IMMEDIATE, and the dedup read-then-write is
atomic. WAL lets readers proceed beside the writer.

SQLite's busy handler is no queue: a writer that finds the lock taken sleeps
1, 2, 5 ... up to 100 ms between tries and loses to whoever takes it
meanwhile, so under load a submission could wait a second behind the delivery
worker's small transactions. So within a process the writers queue first, in
order, on an asyncio lock taken before BEGIN IMMEDIATE and given back when
the connection returns to the pool (its transaction over), or, for the
ingest statement, which runs its transaction on the driver's connection in
one call, around that call (`WriterQueue.turn`); only writers of other
processes meet the busy handler. A writer that waits longer than the
busy timeout gets "database is locked", as before: an outage, a 503.
The delivery worker's writes (claims and results, db/sqlite_delivery.py)
are deferrable: such a writer joins the queue only when no other writer is
waiting (or after DEFER_SECONDS at most), so a submission waits for the
transaction under way, not for a backlog of deliveries. They take their
turn outside this engine's connections (WriterQueue.turn, from
db/sqlite_calls.py) or on them (the DEFERRABLE execution option).

PostgreSQL uses asyncpg with a bounded pool, and connect and statement
timeouts so that a database outage turns into a quick 503, not a hung request.
A connection that failed is discarded, whatever words the driver used.
Behind a transaction-mode pooler (`pooler`), the connections keep no
session state: db/pooler.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import weakref
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from app.db import pooler as poolers
from app.db.outage import is_connection_failure

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# An execution option for a transaction that writes nothing (on SQLite it
# begins without the write lock; see _sqlite_engine).
READ_ONLY = "alerts_read_only"
# An execution option for a write that may let other writers go first (on
# SQLite; see WriterQueue).
DEFERRABLE = "alerts_deferrable"
PG_CONNECT_TIMEOUT_SECONDS = 5.0
PG_STATEMENT_TIMEOUT_SECONDS = 30.0


def create_engine(
    database_url: str,
    *,
    pool_size: int = 20,
    connect_timeout: float = PG_CONNECT_TIMEOUT_SECONDS,
    statement_timeout: float = PG_STATEMENT_TIMEOUT_SECONDS,
    pooler: str = poolers.NONE,
) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        return _sqlite_engine(database_url)
    # command_timeout is the client's own deadline: it also fires when the
    # server (or the network to it) has gone silent, which the server-side
    # statement_timeout cannot see.
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        # No overflow: overflow connections are closed when returned, so a
        # burst would pay a connect (and TLS set-up) per request. Requests
        # past the pool wait for a connection instead.
        max_overflow=0,
        pool_timeout=connect_timeout * 2,
        # No pre-ping: it costs a round trip on every checkout. A connection
        # that died raises a disconnect error, which invalidates the pool's
        # older connections too; that one request gets a 503.
        connect_args={
            "timeout": connect_timeout,
            **poolers.dialect_options(pooler),
            **poolers.connect_options(
                pooler,
                command_timeout=statement_timeout,
                server_settings={
                    "statement_timeout": str(int(statement_timeout * 1000)),
                    "application_name": "alert-service",
                },
            ),
        },
    )
    _discard_failed_connections(engine)
    return engine


def _discard_failed_connections(engine: AsyncEngine) -> None:
    """Every connection failure (db/outage.py) counts as a disconnect: the
    connection is discarded with the pool's older ones, never handed to the
    next request. SQLAlchemy's own list of disconnect messages misses some of
    asyncpg's, such as the "cannot switch to state" of a connection whose
    session the server ended while it sat idle in the pool."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if not context.is_disconnect and is_connection_failure(context.original_exception):
            context.is_disconnect = True


def _sqlite_engine(database_url: str) -> AsyncEngine:
    engine = create_async_engine(
        database_url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        pool_size=5,
        max_overflow=5,
    )
    _discard_failed_connections(engine)

    event.listen(engine.sync_engine, "connect", configure_sqlite)
    writers = _WRITERS[engine.sync_engine] = WriterQueue()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction that only reads (db/transaction.py `read`) begins
        # deferred: in WAL mode it reads a snapshot beside the writer and
        # never waits for, or holds, the write lock.
        options = connection.get_execution_options()
        if options.get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            writers.enter(connection.connection.info, deferrable=bool(options.get(DEFERRABLE)))
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    # The transaction is over when its connection goes back to the pool
    # (reset), or when a failed connection is thrown away (invalidate).
    event.listen(engine.sync_engine.pool, "reset", lambda _c, record, _s: writers.leave(record))
    event.listen(engine.sync_engine.pool, "invalidate", lambda _c, record, _e: writers.leave(record))
    return engine


def configure_sqlite(dbapi_connection: Any, _record: Any = None) -> None:
    """Every SQLite connection's settings (db/sqlite_calls.py's too)."""
    # Let SQLAlchemy, not the driver, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.close()
    # SQLite's own lower() folds ASCII only; text search (`q`) folds
    # every letter, as PostgreSQL's ILIKE does.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def writer_queue(engine: AsyncEngine) -> WriterQueue:
    """The queue of an SQLite engine's writers, for writes that take their
    turn outside its connections (db/sqlite_calls.py)."""
    return _WRITERS[engine.sync_engine]


class WriterQueue:
    """This process's SQLite writers, one at a time, first come first served,
    but for the deferrable ones, which let every writer already waiting go
    first.

    Called from SQLAlchemy's event hooks, which run inside its greenlet on
    the event loop's thread: `enter` waits there for the lock (await_only).
    The pool entry of the connection that holds it is marked (its `info`, the
    same dict on the checked-out connection and on the entry), so a second
    transaction on the same checkout does not wait for itself, and the mark
    is what `leave` gives back.

    A deferrable writer waits until no other writer is waiting, then queues
    like any: behind the one writing and those that came after it while it
    deferred, none of which waits for it. It defers DEFER_SECONDS at most,
    so a steady stream of writers cannot starve it."""

    MARK = "alerts_writer"
    DEFER_SECONDS = 0.5

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._waiting = 0  # writers not deferrable waiting for the lock
        self._none_waiting = asyncio.Event()
        self._none_waiting.set()

    def enter(self, info: dict[Any, Any], *, deferrable: bool = False) -> None:
        if info.get(self.MARK):
            return
        await_only(self._acquire(deferrable))
        info[self.MARK] = True

    async def _acquire(self, deferrable: bool) -> None:
        # asyncio.timeout, not wait_for: no task made per write transaction.
        try:
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_SECONDS):
                if deferrable:
                    await self._defer()
                    await self._lock.acquire()
                    return
                self._waiting += 1
                self._none_waiting.clear()
                try:
                    await self._lock.acquire()
                finally:
                    self._waiting -= 1
                    if not self._waiting:
                        self._none_waiting.set()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    async def _defer(self) -> None:
        if self._waiting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.DEFER_SECONDS):
                    await self._none_waiting.wait()

    def leave(self, record: ConnectionPoolEntry) -> None:
        if record.info.pop(self.MARK, False):
            self._lock.release()

    @contextlib.asynccontextmanager
    async def turn(self, *, deferrable: bool = False) -> AsyncIterator[None]:
        """The lock, for a writer outside the engine's connections: the SQLite
        ingest statement (db/sqlite_store.py), which begins and ends its
        transaction itself within this block, and the delivery's writes
        (db/sqlite_calls.py)."""
        await self._acquire(deferrable)
        try:
            yield
        finally:
            self._lock.release()


# Each SQLite engine's writers (weak: an engine disposed and dropped takes its queue along).
_WRITERS: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
