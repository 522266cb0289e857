"""create_app() and the lifespan: what starts, in which order, and stops in reverse.

Start: database engine, the shared HTTP client, notifiers, then the workers.
Stop: workers first (they use the rest), then the client, then the engine.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI
from starlette.types import Receive, Scope, Send

from app.api import (
    alerts,
    calendar,
    channels,
    docs,
    escalation,
    fast_submit,
    health,
    heartbeats,
    integrations,
    metrics,
    oncall_documents,
    policies,
    routes,
    schedules,
    silences,
    slack_actions,
    stats,
    users,
)
from app.api.body_limit import BodyLimitMiddleware
from app.api.deps import utc_now
from app.api.errors import install_error_handlers
from app.api.query_params import refuse_repeated_query_params
from app.api.ratelimit import limiter_for
from app.api.request_metrics import RequestMetricsMiddleware
from app.api.spec import without_null_parameters
from app.db import pg_ingest
from app.db.engine import create_engine, create_sessionmaker
from app.db.orm_store import OrmStore
from app.db.pg_store import PgStore
from app.db.sqlite_store import SqliteStore
from app.jobs import Jobs
from app.logs import configure_logging
from app.metrics import INGEST_BATCH, count_steps
from app.notifiers.registry import build_notifiers
from app.runtime import tune_gc
from app.services import batch
from app.services.action_links import ActionLinks
from app.services.dispatcher import INGEST_WAKE_DELAY, Dispatcher
from app.services.escalation import WAKE_DELAY as ESCALATION_WAKE_DELAY
from app.services.oncall import routing
from app.services.silence_match import held_by
from app.services.sns import Certificates as SnsCertificates
from app.settings import Settings, load_settings
from app.ui import install as install_console
from app.ui.live import ChangeWatcher
from app.workers import PeriodicWorker

log = logging.getLogger("app")

DESCRIPTION = """\
Send alerts here from any service. Identical alerts are deduplicated into one,
each alert has a lifecycle and a history, unhandled alerts escalate, and
notifications go out to email, Slack, webhooks and the console from a durable
outbox. Every error answers with one JSON shape: `code`, `message`, `field`.
"""


def http_client() -> httpx.AsyncClient:
    # One pool for every outgoing call. TLS is verified; redirects are not
    # followed, so a target can only be a URL from the configuration.
    return httpx.AsyncClient(
        verify=True,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": "alert-service/0.1"},
    )


class AlertService(FastAPI):
    """FastAPI, with POST /alerts handed first to api/fast_submit.py, which
    answers the common case in front of every middleware and
    passes anything else on to the application as usual; its spec offers
    no null for a parameter (api/spec.py)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_submit = fast_submit.FastSubmit(super().__call__)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = without_null_parameters(super().openapi())
        return self.openapi_schema

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if fast_submit.handles(scope):
            scope["app"] = self
            await self._fast_submit(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            connect_timeout=settings.database_connect_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
            pool_size=settings.database_pool_size,
            pooler=settings.database_pooler,
        )
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker = create_sessionmaker(engine)
        # The store of the hot paths (db/store.py), chosen once: on
        # PostgreSQL one statement each on an asyncpg pool of its own, with
        # the ORM store for what those statements leave to it; on SQLite the
        # ORM store, with submissions that arrive together written in one
        # transaction, an upsert each (db/sqlite_ingest.py).
        general = OrmStore(sessionmaker, hold=held_by)
        pg_store = (
            None
            if settings.is_sqlite
            else PgStore(
                await pg_ingest.create_pool(settings, size=settings.database_pool_size),
                general,
                in_flight=settings.ingest_statements_in_flight,
                on_batch=INGEST_BATCH.observe,
            )
        )
        app.state.store = store = pg_store or SqliteStore(
            sessionmaker,
            hold=held_by,
            write_together=functools.partial(batch.submit_together, sessionmaker, settings=settings),
            on_batch=INGEST_BATCH.observe,
        )
        # Batches of submissions (services/batch.py): on PostgreSQL, the
        # store's own path first (db/pg_batch.py).
        app.state.batch_fast_path = pg_store.ingest_batch if pg_store else None
        # Routes and policies in memory, for the write path (services/oncall/routing.py).
        app.state.routing = router_table = routing.Routing(sessionmaker, settings)
        await router_table.start()
        routing.install(router_table)
        routing_worker = PeriodicWorker("routing", router_table.reload, interval=routing.REFRESH_SECONDS)
        routing_worker.start()
        client = http_client()
        app.state.http_client = client  # for the routes that call out (api/integrations.py: SNS)
        app.state.sns_certificates = SnsCertificates()
        # Email's acknowledge and resolve links, made and read with one key (ui/actions.py reads them).
        app.state.action_links = action_links = ActionLinks(
            settings, sessionmaker, clock=lambda: app.state.clock()
        )
        app.state.notifiers = notifiers = build_notifiers(settings, client, actions=action_links)
        delivery_worker: PeriodicWorker | None = None
        dispatcher = Dispatcher(
            store=store,
            notifiers=notifiers,
            settings=settings,
            clock=lambda: app.state.clock(),
            on_slot_free=lambda: delivery_worker.wake() if delivery_worker else None,
            on_retry_due=lambda seconds: delivery_worker.wake_soon(seconds) if delivery_worker else None,
        )
        delivery_worker = PeriodicWorker(
            "delivery", dispatcher.run_once, interval=settings.delivery_poll_seconds
        )
        app.state.dispatcher = dispatcher
        app.state.delivery_worker = delivery_worker
        app.state.wake_delivery = delivery_worker.wake
        app.state.wake_delivery_soon = lambda: delivery_worker.wake_soon(INGEST_WAKE_DELAY)
        delivery_worker.start()

        jobs = Jobs(
            sessionmaker,
            settings=settings,
            clock=lambda: app.state.clock(),
            wake_delivery=delivery_worker.wake,
            on_steps=count_steps,
        )
        ticker = PeriodicWorker("escalation", jobs.escalate, interval=settings.escalation_interval_seconds)
        # A new alert whose first step is due at once (services/escalation.py `due_at_once`).
        app.state.wake_escalation_soon = lambda: ticker.wake_soon(ESCALATION_WAKE_DELAY)
        if settings.enable_escalation:
            ticker.start()
        janitor = PeriodicWorker(
            "housekeeping", jobs.keep_house, interval=settings.housekeeping_interval_seconds
        )
        # Always: besides closing and deleting (when set), housekeeping folds
        # the deltas that the sums of /stats and /channels add up.
        janitor.start()
        silence_worker = PeriodicWorker(
            "silences", jobs.release_silences, interval=settings.silence_check_seconds
        )
        app.state.wake_silences = silence_worker.wake
        silence_worker.start()
        heartbeat_worker = PeriodicWorker(
            "heartbeats", jobs.check_heartbeats, interval=settings.heartbeat_check_seconds
        )
        app.state.check_heartbeats = jobs.check_heartbeats
        heartbeat_worker.start()
        app.state.console_watcher = console_watcher = ChangeWatcher(sessionmaker)
        log.info(
            "alert service started",
            extra={
                "database": engine.url.render_as_string(hide_password=True),
                "api_keys": [key.name for key in settings.api_keys],
            },
        )
        if not settings.api_keys:
            log.warning("no api_keys configured: the API is open to every caller")
        tune_gc()  # app/runtime.py: once per process, after startup
        try:
            yield
        finally:
            await console_watcher.close()
            await heartbeat_worker.stop()
            await silence_worker.stop()
            await janitor.stop()
            await ticker.stop()
            await delivery_worker.stop()
            await dispatcher.stop()
            await routing_worker.stop()
            routing.uninstall(router_table)
            await client.aclose()
            await store.close()
            await engine.dispose()

    # The docs pages are app.api.docs (their assets served here, not from a
    # CDN); with keys configured and public_docs off, the spec and the pages
    # need a `read` key.
    private_docs = bool(settings.api_keys) and not settings.public_docs
    app = AlertService(
        title="Alert service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(refuse_repeated_query_params)],
        openapi_url=None if private_docs else "/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = utc_now
    app.state.rate_limiter = limiter_for(settings)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware)
    app.include_router(alerts.router)
    app.include_router(channels.router)
    app.include_router(escalation.router)
    app.include_router(stats.router)
    app.include_router(metrics.router)
    app.include_router(silences.router)
    app.include_router(heartbeats.router)
    app.include_router(users.router)
    app.include_router(schedules.router)
    app.include_router(oncall_documents.router)
    app.include_router(policies.router)
    app.include_router(routes.router)
    app.include_router(calendar.router)
    app.include_router(calendar.users_router)
    app.include_router(integrations.router)
    app.include_router(slack_actions.router)
    app.include_router(health.router)
    docs.install(app, private=private_docs)
    install_console(app)
    return app
