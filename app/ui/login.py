"""Signing in and out of the console."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from app.settings import Settings
from app.ui.routing import ConsoleRoute, read_form, see_other
from app.ui.session import new_session, set_cookie, sign_in
from app.ui.templating import render

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=ConsoleRoute)


def _next(target: str) -> str:
    """Where to go after signing in: a console page of this service only."""
    return (
        target if target.startswith(("/ui/", "/docs", "/redoc")) and not target.startswith("//") else "/ui/"
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not settings.api_keys:  # open mode: nothing to sign in to
        return see_other("/ui/")
    target = _next(request.query_params.get("next", "/ui/"))
    return await render(request, "login.html", {"next": target, "error": None}, caller=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    settings: Settings = request.app.state.settings
    target = _next(form.get("next", "/ui/"))
    key = sign_in(settings, form.get("key")) if settings.api_keys else None
    if settings.api_keys and key is None:
        log.warning(
            "console sign-in refused: unknown key",
            extra={"client": request.client.host if request.client else "unknown"},
        )
        context = {"next": target, "error": "That key is not one this service knows."}
        return await render(request, "login.html", context, caller=None, status_code=401)
    if key is not None and not ({"read", "admin"} & set(key.scopes)):
        context = {
            "next": target,
            "error": "This key may only submit alerts: the console needs one with `read`.",
        }
        return await render(request, "login.html", context, caller=None, status_code=403)
    response = see_other(target)
    # A new session, with a new CSRF token: nothing from before signing in carries over.
    await set_cookie(request, response, new_session(key.hash if key else None))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = see_other("/ui/login")
    await set_cookie(request, response, new_session())
    return response
