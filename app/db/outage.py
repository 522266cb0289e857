"""Which database failures are outages, and which of them may be retried.

The one classifier of database failures, for every path: the HTTP layer
(503 with Retry-After instead of 500), the ingest pool, the ORM store, the
delivery worker and the periodic jobs (a warning, not a traceback).

Three questions, each a narrower one:

- `is_database_outage`: the database cannot serve us right now (connection
  lost or refused, server shutting down, pool or statement timeout, too many
  connections, SQLite's "database is locked"). The client gets a 503.
- `is_connection_failure`: the connection itself is gone or could not be
  made. It must be discarded, not handed to the next request. A transaction
  on it that had not sent COMMIT never committed: the server rolls back the
  transaction of a connection that goes away.
- `failed_before_sending`: certain that the statement never reached the
  server (the connection was found closed, or its protocol broken, before
  anything was written), so even an autocommitted statement may run again.

A timeout is an outage but not a connection failure: the statement may still
be running, and trying again would double the load on a struggling server.

Drivers hide their errors in different places: SQLAlchemy wraps the
driver's in `DBAPIError.orig`, its asyncpg adapter chains asyncpg's own as
`__cause__`, asyncpg chains the server's message (AdminShutdownError) behind
ConnectionDoesNotExistError. Every question looks down the whole chain.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

from asyncpg import exceptions as pg_exc
from sqlalchemy import exc as sa_exc

# The server ended or refused the session: pg_terminate_backend, a shutdown,
# a crash restart, a dropped database, idle_session_timeout, still starting.
_SERVER_ENDED = (
    pg_exc.AdminShutdownError,
    pg_exc.CrashShutdownError,
    pg_exc.CannotConnectNowError,
    pg_exc.DatabaseDroppedError,
    pg_exc.IdleSessionTimeoutError,
)
# asyncpg's InterfaceError is also the base of errors about our own data
# (asyncpg.DataError: a value it cannot encode) and settings: not outages.
_NOT_CONNECTION_INTERFACE = (
    pg_exc.DataError,
    pg_exc.ClientConfigurationError,
    pg_exc.UnsupportedClientFeatureError,
    pg_exc.UnsupportedServerFeatureError,
)
# Raised by asyncpg before it writes a message: its protocol state machine
# refusing to start (the connection failed while idle in the pool: "cannot
# switch to state 12; protocol is in the failed state") or not connected.
_NOT_SENT_MESSAGES = ("cannot switch to state", "not connected")
# Failures to open a connection: nothing of ours was sent.
_CONNECT_FAILURES = (
    ConnectionRefusedError,
    socket.gaierror,
    pg_exc.CannotConnectNowError,
    pg_exc.TooManyConnectionsError,
    pg_exc.ClientCannotConnectError,
)
_SQLITE_BUSY = ("database is locked", "database is busy")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, the driver error SQLAlchemy wraps, and their causes."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 16:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        for nxt in (orig, current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                pending.append(nxt)


def _connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, pg_exc.InternalClientError):
        # A stale statement cache after a migration is not a connection problem.
        return not isinstance(exc, pg_exc.OutdatedSchemaCacheError)
    if isinstance(exc, pg_exc.InterfaceError):
        return not isinstance(exc, _NOT_CONNECTION_INTERFACE)
    if isinstance(exc, TimeoutError):
        return False  # an OSError in the standard library's eyes, not in ours
    return isinstance(exc, (OSError, pg_exc.PostgresConnectionError, *_SERVER_ENDED, *_CONNECT_FAILURES))


def _outage(exc: BaseException) -> bool:
    if _connection_failure(exc):
        return True
    if isinstance(exc, TimeoutError | sa_exc.TimeoutError | pg_exc.QueryCanceledError):
        return True  # a pool checkout, a connect or a statement that timed out
    if isinstance(exc, pg_exc.TooManyConnectionsError):
        return True
    return any(text in str(exc).lower() for text in _SQLITE_BUSY) and _is_sqlite(exc)


def _is_sqlite(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("sqlite3") or isinstance(exc, sa_exc.OperationalError)


def is_connection_failure(exc: BaseException) -> bool:
    """The connection is lost or could not be made: discard it."""
    return any(_connection_failure(e) for e in _chain(exc))


def is_database_outage(exc: BaseException) -> bool:
    """The database cannot serve us right now: answer 503, log a warning."""
    if any(_outage(e) for e in _chain(exc)):
        return True
    # SQLAlchemy's own classes for a driver error it did not say more about.
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and not _driver_says_otherwise(
        exc
    )


def _driver_says_otherwise(exc: sa_exc.DBAPIError) -> bool:
    """An asyncpg error about our data, wrapped in SQLAlchemy's InterfaceError."""
    return any(isinstance(e, _NOT_CONNECTION_INTERFACE) for e in _chain(exc))


def failed_before_sending(exc: BaseException) -> bool:
    """Certain that the statement never reached the server."""
    for e in _chain(exc):
        if isinstance(e, _CONNECT_FAILURES):
            return True
        if type(e) is pg_exc.InternalClientError and str(e).startswith(_NOT_SENT_MESSAGES):
            return True
        if type(e) is pg_exc.InterfaceError and "connection is closed" in str(e):
            return True  # asyncpg's check before it writes anything
    return False


# Another transaction wrote first what this one meant to write.
_WRITE_CONFLICTS = (pg_exc.UniqueViolationError, pg_exc.DeadlockDetectedError, pg_exc.SerializationError)


def is_write_conflict(exc: BaseException) -> bool:
    """A concurrent writer won: it created the same identity first (a
    unique violation), or the two deadlocked. Not an outage: running the
    whole transaction again reads the winner's rows and goes on from there."""
    return any(isinstance(e, _WRITE_CONFLICTS) for e in _chain(exc))
