"""Delivery workers as separate replicas run them: each with its own engine
(and, for the one-statement store, its own asyncpg pool), on one database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from app.db import pg_ingest
from app.db.engine import create_engine, create_sessionmaker
from app.db.orm_store import OrmStore
from app.db.pg_store import PgStore
from app.db.store import Store
from app.main import http_client
from app.notifiers.registry import build_notifiers
from app.services.dispatcher import Dispatcher
from app.services.silence_match import held_by
from app.settings import Settings


@asynccontextmanager
async def replica_dispatchers(
    database_url: str,
    settings: Settings,
    *,
    one_statement: bool,
    clock: Callable[[], datetime],
    count: int = 2,
) -> AsyncIterator[list[Dispatcher]]:
    engines = [create_engine(database_url, pooler=settings.database_pooler) for _ in range(count)]
    stores: list[Store] = []
    try:
        for engine in engines:
            general = OrmStore(create_sessionmaker(engine), hold=held_by)
            stores.append(
                PgStore(await pg_ingest.create_pool(settings, size=2), general, in_flight=1)
                if one_statement
                else general
            )
        async with http_client() as client:
            notifiers = build_notifiers(settings, client)
            yield [
                Dispatcher(store=store, notifiers=notifiers, settings=settings, clock=clock)
                for store in stores
            ]
    finally:
        for store in stores:
            await store.close()
        for engine in engines:
            await engine.dispose()
