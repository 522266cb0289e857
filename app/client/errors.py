"""What the client raises: one base class, one subclass per kind of failure.

Every error answer of the service has the same JSON shape (code, message,
field, errors); these exceptions carry it, so callers can branch on the type
(`except NotFound`) or read `field` to tell a user which input was wrong.
"""

from __future__ import annotations

from typing import Any


class AlertServiceError(Exception):
    """Base of every client error. `status_code` is None when no answer came."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.field = field
        self.errors = errors or []
        self.body = body

    def __str__(self) -> str:
        if self.status_code is None:
            return self.message
        where = f" (field {self.field})" if self.field else ""
        return f"HTTP {self.status_code} {self.code or 'error'}: {self.message}{where}"


class ConnectionFailed(AlertServiceError):
    """The service could not be reached, after the retries."""


class ClientError(AlertServiceError):
    """4xx: the request was refused; sending it again will not help."""


class BadRequest(ClientError):
    pass


class Unauthorized(ClientError):
    pass


class Forbidden(ClientError):
    pass


class NotFound(ClientError):
    pass


class Conflict(ClientError):
    """The alert's current state does not allow the move."""


class PayloadTooLarge(ClientError):
    pass


class ValidationFailed(ClientError):
    """422: `field` names the input at fault."""


class RateLimited(ClientError):
    pass


class ServerError(AlertServiceError):
    """5xx."""


class ServiceUnavailable(ServerError):
    """503, still so after the retries (e.g. the database is down)."""


BY_STATUS: dict[int, type[AlertServiceError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}


def for_status(status_code: int) -> type[AlertServiceError]:
    if status_code in BY_STATUS:
        return BY_STATUS[status_code]
    return ServerError if status_code >= 500 else ClientError
