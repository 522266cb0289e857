"""Secrets the service makes for itself, kept in the database.

The console signs its session cookies with a key that every replica and
every restart must share, or a login would hold on one process only. When
the configuration gives none, the first process to need it makes one at
random and stores it; the others (and later starts) read that row.
INSERT .. ON CONFLICT DO NOTHING, then SELECT: two processes starting
together both end up with the one that won.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import ServiceSecret


async def shared_secret(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> str:
    async with sessionmaker() as session, session.begin():
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(ServiceSecret)
            .values(name=name, value=secrets.token_urlsafe(48))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = await session.scalar(select(ServiceSecret.value).where(ServiceSecret.name == name))
    assert value is not None
    return value
