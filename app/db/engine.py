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
one call, around that call (`WriterQueue.turn`). Between the processes of
one service (uvicorn's workers) the one writer of each that holds its
process's turn then takes an exclusive lock on a file beside the database
(`<database>-writer`, flock; `_FileLock`) before BEGIN IMMEDIATE: a writer
whose process is not writing takes it at once; one that finds another
process writing waits for it in a thread, blocked in the kernel, and has it
next, before that process's next writer, instead of polling in the busy handler (a submission
waited up to a quarter of a second there beside another worker's batch of
100, which it follows in about a millisecond now). Only writers that take
no such lock (another program on the file, a migration) meet the busy
handler. A writer that waits longer than the busy timeout gets "database
is locked", as before: an outage, a 503.
The delivery worker's writes (claims and results, db/sqlite_delivery.py)
and the write transactions of batches (services/batch.py) are deferrable:
such a writer joins the queue only when no other writer is waiting (or
after DEFER_SECONDS at most), so a single submission waits for the
transaction under way, not for a backlog of deliveries or batches. They take their
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
import fcntl
import os
import sqlite3
import threading
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
    writers = _WRITERS[engine.sync_engine] = WriterQueue(_lock_file(engine.url.database))

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


def _lock_file(database: str | None) -> str | None:
    """The file whose lock the writers of every process take in turn
    (WriterQueue): beside the database; none for a database in memory,
    which one process alone can open."""
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    return database.removeprefix("file:").split("?", 1)[0] + "-writer"


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
    first; and, when given a lock file, the processes' writers one at a time
    too (`_FileLock`).

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

    def __init__(self, lock_file: str | None = None) -> None:
        self._lock = asyncio.Lock()
        self._file = _FileLock(lock_file) if lock_file else None
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
                else:
                    self._waiting += 1
                    self._none_waiting.clear()
                    try:
                        await self._lock.acquire()
                    finally:
                        self._waiting -= 1
                        if not self._waiting:
                            self._none_waiting.set()
                if self._file is not None:
                    try:
                        await self._file.acquire()
                    except BaseException:
                        self._lock.release()
                        raise
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    async def _defer(self) -> None:
        if self._waiting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.DEFER_SECONDS):
                    await self._none_waiting.wait()

    def _release(self) -> None:
        try:
            if self._file is not None:
                self._file.release()
        finally:
            self._lock.release()

    def leave(self, record: ConnectionPoolEntry) -> None:
        if record.info.pop(self.MARK, False):
            self._release()

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
            self._release()


class _FileLock:
    """The turn of one writer among the processes on a database: an
    exclusive flock on a file (`<database>-writer`), taken by the writer
    that holds its process's turn, so one waiter per process at most.

    A lock the kernel wakes its waiters for is no queue by itself: under
    load the woken waiter may not run before the process that gave the lock
    back takes it again for its next writer. So a second file
    (`<database>-writer-next`) says whose turn is next: a writer takes it
    before the turn and gives it back once it has the turn, so while one
    waits for the turn holding it, the writer that gives the turn back
    cannot take it again but waits behind. Two processes take turns; more
    take them in the order the kernel wakes them.

    Uncontended it is three system calls on the event loop; contended, a
    thread of its own blocks in the kernel, and the event loop is told when
    it has the turn. A waiter that gives up (timed out, cancelled) leaves
    the thread to give the turn back when it gets it. The files are opened
    at first use in each process (a descriptor inherited across fork would
    share the locks with the parent) and closed with this object. The locks
    are the kernel's: a process killed in its turn gives it back with its
    descriptors."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fds: tuple[int, int] | None = None
        self._pid = 0

    def _descriptors(self) -> tuple[int, int]:
        if self._fds is None or self._pid != os.getpid():
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            self._fds = (os.open(self._path, flags, 0o644), os.open(self._path + "-next", flags, 0o644))
            self._pid = os.getpid()
            for fd in self._fds:
                weakref.finalize(self, os.close, fd)
        return self._fds

    async def acquire(self) -> None:
        turn, next_ = self._descriptors()
        try:
            fcntl.flock(next_, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            queued = False  # another process's writer is next: behind it
        else:
            queued = True
            try:
                fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                fcntl.flock(next_, fcntl.LOCK_UN)
                return
        loop = asyncio.get_running_loop()
        taken: asyncio.Future[None] = loop.create_future()

        def wait() -> None:
            failure: BaseException | None = None
            try:
                if not queued:
                    fcntl.flock(next_, fcntl.LOCK_EX)
                try:
                    fcntl.flock(turn, fcntl.LOCK_EX)
                finally:
                    fcntl.flock(next_, fcntl.LOCK_UN)
            except BaseException as exc:  # a closed descriptor: the waiter is told
                failure = exc
            try:
                loop.call_soon_threadsafe(_settle, taken, turn, failure)
            except RuntimeError:  # the loop is gone, and the waiter with it
                if failure is None:
                    with contextlib.suppress(OSError):
                        fcntl.flock(turn, fcntl.LOCK_UN)

        threading.Thread(target=wait, name="sqlite-writer-lock", daemon=True).start()
        await taken

    def release(self) -> None:
        if self._fds is not None:
            fcntl.flock(self._fds[0], fcntl.LOCK_UN)


def _settle(taken: asyncio.Future[None], fd: int, failure: BaseException | None) -> None:
    """On the event loop: the turn taken (or not) for a waiter, given back at
    once if the waiter is no more."""
    if taken.done():  # cancelled, timed out
        if failure is None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    elif failure is not None:
        taken.set_exception(failure)
    else:
        taken.set_result(None)


# Each SQLite engine's writers (weak: an engine disposed and dropped takes its queue along).
_WRITERS: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
