"""The console's templates: one Jinja2 environment, autoescaped, and a
render() that every page goes through (it hands each template the caller,
the CSRF token and the open-mode flag, and sets a new session's cookie)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from app.api.auth import Caller
from app.settings import SEVERITIES, Settings
from app.ui.session import current_session, set_cookie

STATIC = "/ui/static"


def age(then: datetime | None, now: datetime) -> str:
    """`3m`, `5h`, `2d`: how long ago, at a glance."""
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def moment(then: datetime | None) -> str:
    return "" if then is None else then.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """A latency or a wait: `120 ms`, `4.2 s`, `3.5 min`, `2.0 h`."""
    if seconds is None:
        return "\u2013"  # an en dash: no figure
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# Every page: never cached (it shows live state), loads and posts to this
# host only, runs no inline script, and is never framed by another site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

environment = Environment(
    loader=PackageLoader("app.ui", "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(age=age, moment=moment, duration=duration)
environment.globals.update(STATIC=STATIC, SEVERITIES=SEVERITIES)


async def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    caller: Caller | None,
    status_code: int = 200,
) -> HTMLResponse:
    session, fresh = await current_session(request)
    settings: Settings = request.app.state.settings
    html = environment.get_template(template).render(
        request=request,
        caller=caller,
        csrf=session.csrf,
        open_mode=not settings.api_keys,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    if fresh:
        await set_cookie(request, response, session)
    return response
