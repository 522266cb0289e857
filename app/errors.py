"""Domain errors, free of the web framework.

Services, workers and the database layer raise and test for these without
importing FastAPI; app/api/errors.py turns them into the one JSON shape.
"""

from __future__ import annotations


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


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"


class Unavailable(AppError):
    status_code = 503
    code = "unavailable"
