"""What every console route shares: errors as pages, forms, redirects.

A console route raises the service's plain errors as the API's routes do;
ConsoleRoute turns them into what a browser wants: no session is a redirect
to the login page (or, for a fragment htmx asked for, a 401 that tells htmx
where to go), anything else a page that says what went wrong, with the
status code of the API's answer.

Forms are `application/x-www-form-urlencoded` (no file uploads here), read
with the standard library; the body is already capped by the app's
body-limit middleware.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from app.errors import AppError
from app.ui.session import CSRF_FIELD, SignInRequired, check_csrf
from app.ui.templating import render


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(target, safe='')}"


class ConsoleRoute(APIRoute):
    # Pages carry their view in the query string (filters, `next`, `done`)
    # and read it themselves; the app-wide check of unknown parameters
    # (api/query_params.py) leaves them be, its NUL check does not.
    reads_own_query = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except SignInRequired:
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": login_url(request)})
                return RedirectResponse(login_url(request), status_code=303)
            except AppError as exc:
                return await _error_page(request, exc.status_code, exc.message, exc.field)
            except RequestValidationError as exc:
                [first, *_] = exc.errors()
                field = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
                return await _error_page(request, 422, str(first.get("msg", "invalid input")), field)

        return route


async def _error_page(request: Request, status: int, message: str, field: str | None) -> Response:
    caller = getattr(request.state, "caller", None)
    context = {"status": status, "message": message, "field": field}
    return await render(request, "error.html", context, caller=caller, status_code=status)


class Form:
    """A submitted form's fields: one value or every value of a name."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self._fields.get(name)
        return values[0].strip() if values else default

    def all(self, name: str) -> list[str]:
        return self._fields.get(name, [])


async def read_form(request: Request) -> Form:
    """The POSTed form, after its CSRF token is checked (Forbidden if not)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    form = Form(parse_qs(body, keep_blank_values=True, max_num_fields=2000))
    await check_csrf(request, form.get(CSRF_FIELD) or None)
    return form


def see_other(url: str) -> RedirectResponse:
    """After a POST, the page to show (303, so a reload does not post again)."""
    return RedirectResponse(url, status_code=303)
