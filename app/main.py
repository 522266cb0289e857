"""create_app() and the lifespan: what starts, in which order, and stops in reverse.

Start: database engine, the shared HTTP client, notifiers, then the workers.
Stop: workers first (they use the rest), then the client, then the engine.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import alerts, health
from app.api.body_limit import BodyLimitMiddleware
from app.api.deps import utc_now
from app.db.engine import create_engine, create_sessionmaker
from app.errors import install_error_handlers
from app.settings import Settings, load_settings

log = logging.getLogger("app")

DESCRIPTION = """\
Send alerts here from any service. Identical alerts are deduplicated into one,
each alert has a lifecycle and a history, unhandled alerts escalate, and
notifications go out to email, Slack, webhooks and the console from a durable
outbox. Every error answers with one JSON shape: `code`, `message`, `field`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        log.info("alert service started", extra={"database": engine.url.render_as_string(hide_password=True)})
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Alert service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = utc_now
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(alerts.router)
    app.include_router(health.router)
    return app
