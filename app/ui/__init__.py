"""The web console at /ui/: pages for the people on call, served by the same
process from the same services as the API, with nothing loaded from another
host (templates and assets ship in this package; htmx is vendored with its
licence under static/vendor)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from app.ui import actions, alerts, channels, login, schedules, silences, stats
from app.ui.templating import STATIC


def install(app: FastAPI) -> None:
    app.mount(STATIC, StaticFiles(directory=str(files("app.ui") / "static")), name="console-static")
    app.include_router(login.router)
    app.include_router(alerts.router)
    app.include_router(silences.router)
    app.include_router(schedules.router)
    app.include_router(channels.router)
    app.include_router(stats.router)
    app.include_router(actions.router)  # email's acknowledge and resolve links

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui", include_in_schema=False)
    async def console() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
