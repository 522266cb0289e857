"""Domain errors, free of the web framework.

Services, workers and the database layer raise and test for these without
importing FastAPI; app/api/errors.py turns them into the one JSON shape.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"


class Unavailable(AppError):
    status_code = 503
    code = "unavailable"


def is_database_outage(exc: BaseException) -> bool:
    """True for failures that mean the database cannot be reached right now."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    # asyncpg's own errors come from the ingest pool, which bypasses SQLAlchemy.
    return isinstance(
        exc,
        OSError
        | TimeoutError
        | sa_exc.TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.QueryCanceledError
        | asyncpg.TooManyConnectionsError,
    )
