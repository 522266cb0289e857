"""Every error answers with one JSON shape, and no stack trace reaches a client.

Unknown failures are logged here and answered with a plain 500; a database
outage (app/db/outage.py decides) is a 503 with Retry-After. The domain errors themselves live in
app/errors.py, so that services need no web framework to raise them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db.outage import is_database_outage
from app.errors import AppError
from app.schemas import ErrorBody, ErrorItem

# The logger keeps the name it had before these handlers moved out of
# app/errors.py, so log filters on it still match.
log = logging.getLogger("app.errors")

MAX_FIELD_CHARS = 300


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    errors: list[ErrorItem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(code=code, message=message, field=field, errors=errors or [])
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    # ("body", "labels", "env") -> "labels.env"; the "body"/"query" prefix
    # tells where, not which field.
    parts = (
        [str(p) for p in loc[1:]]
        if loc and loc[0] in {"body", "query", "path", "header"}
        else [str(p) for p in loc]
    )
    # A hostile key (a lone surrogate, say) must not make the answer unencodable.
    field = ".".join(parts).encode("utf-8", "backslashreplace").decode("utf-8")
    return field[:MAX_FIELD_CHARS] or None


def _whole_body(err: Any, request: Request) -> str | None:
    """A plain word for an error about the body as a whole: pydantic's would
    be "Field required" or "Input should be a valid dictionary", naming no
    field."""
    if tuple(err.get("loc", ())) != ("body",):
        return None
    if err.get("type") == "missing":
        return "the request body is empty: send a JSON object"
    content_type = request.headers.get("content-type")
    if content_type is None or "json" not in content_type.lower():
        sent = f"Content-Type {content_type[:100]!r}" if content_type else "no Content-Type"
        return f"the body must be a JSON object sent with Content-Type: application/json (got {sent})"
    return "the request body must be a JSON object"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = []
    for err in exc.errors():
        field = _field_of(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            field, message = (
                None,
                f"request body is not valid JSON: {err.get('ctx', {}).get('error', message)}",
            )
        elif (whole := _whole_body(err, request)) is not None:
            field, message = "body", whole
        items.append(ErrorItem(field=field, message=message))
    first = items[0] if items else ErrorItem(field=None, message="invalid request")
    summary = f"{first.field}: {first.message}" if first.field else first.message
    return error_response(422, "validation_error", summary, field=first.field, errors=items)


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(exc)


def app_error_response(exc: AppError) -> JSONResponse:
    item = ErrorItem(field=exc.field, message=exc.message)
    return error_response(
        exc.status_code, exc.code, exc.message, field=exc.field, errors=[item], headers=exc.headers
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI's answer to a body it could not even parse: bytes that are
        # not UTF-8, or JSON nested past the parser's recursion limit. The
        # same 422 as any other body that is not valid JSON.
        message = f"request body is not valid JSON: {type(exc.__cause__).__name__}"
        return error_response(
            422, "validation_error", message, errors=[ErrorItem(field=None, message=message)]
        )
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request.app, request.url.path) or headers.get("Allow", "")
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=headers or None,
    )


def _allowed_methods(app: FastAPI, path: str) -> str:
    """Every method the spec documents for `path`. Starlette's own Allow names
    only the first route matching the path, and GET /alerts and POST /alerts
    are two routes. A path the spec names as it stands is that path's alone:
    /routes/test is not /routes/{route_id} (whose id is a UUID)."""
    table: list[tuple[re.Pattern[str], list[str], bool]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            parts = ["[^/]+" if p.startswith("{") else re.escape(p) for p in template.split("/")]
            methods = sorted(m.upper() for m in operations)
            table.append((re.compile("/".join(parts)), methods, "{" not in template))
        app.state.allow_table = table
    found = [methods for pattern, methods, literal in table if literal and pattern.fullmatch(path)]
    if not found:
        found = [methods for pattern, methods, _ in table if pattern.fullmatch(path)]
    return ", ".join(sorted({m for methods in found for m in methods}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(request, exc)


def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """503 for a database outage, else a logged 500 without the trace."""
    if is_database_outage(exc):
        log.warning(
            "database unavailable during %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return error_response(
            503,
            "database_unavailable",
            "the database is unavailable; retry later",
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error during %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Database and network failures are answered by the inner exception
    # middleware, like any domain error: the catch-all below runs in
    # Starlette's outermost middleware, which re-raises after answering, and
    # uvicorn then drops the client's keep-alive connection with a traceback.
    for outage in (sa_exc.SQLAlchemyError, OSError, TimeoutError):
        app.add_exception_handler(outage, _unexpected)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": description}
    for code, description in {
        401: "Missing or unknown API key",
        403: "The API key lacks the scope this operation needs",
        404: "Not found",
        409: "Not allowed in the alert's current state",
        413: "Request body too large",
        422: "Invalid input; `field` names the culprit",
        429: "Rate limit exceeded; see Retry-After",
        503: "Database unavailable",
    }.items()
}
