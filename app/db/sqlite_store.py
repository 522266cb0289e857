"""The store on SQLite: submissions that arrive together share one write
transaction (db/group_commit.py), written by one statement each.

SQLite has one writer at a time. Written one by one, each submission was a
transaction of its own, all of them queued for that lock; now those that
arrive while one transaction writes go together in the next one. A group
is written in order by the ingest statement (db/sqlite_ingest.py: an upsert
per submission against the index of active identities, its events and
notifications inserted with one executemany each), as PostgreSQL writes
one (db/pg_ingest.py). What that statement declines goes to the ORM store,
with the same plan: a reopen, or deduplication off, within the same
transaction and in its place in the group; a silence in force during the
group, the whole group (alone through the ORM store, several as one batch
of services/batch.py, which asks the silences once for them all). The
answers are those of the submissions written one by one in order, only
sooner. One write runs at a time; deliveries and every other writer take
their turn between them (db/engine.py queues this process's writers).

Claims and results of deliveries are written by db/sqlite_delivery.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.db import orm_store, sqlite_ingest
from app.db.engine import writer_queue
from app.db.group_commit import GroupCommit
from app.db.orm_store import Hold, OrmStore
from app.db.store import Ingested, IngestPlan

MAX_BATCH = 200  # submissions per write transaction

# Submissions of one team, written in one transaction; one answer each, in order.
WriteTogether = Callable[[list[IngestPlan]], Awaitable[Sequence[Ingested]]]


def _team_and_rules(plan: IngestPlan) -> Hashable:
    return (plan.team, id(plan.decisions))


class SqliteStore(OrmStore):
    """The ORM store, but for how submissions reach it."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        hold: Hold,
        write_together: WriteTogether,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        super().__init__(sessionmaker, hold=hold)
        self._write_together = write_together
        self._engine: AsyncEngine = sessionmaker.kw["bind"]
        self._writers = writer_queue(self._engine)
        self._connection: AsyncConnection | None = None
        self._connecting = asyncio.Lock()
        self.writer: GroupCommit[Ingested] = GroupCommit(
            self._write,
            in_flight=1,
            max_batch=MAX_BATCH,
            one_per_identity=False,  # the statement merges repeats in order
            group=_team_and_rules,
            on_batch=on_batch,
        )

    async def _write(self, plans: list[IngestPlan]) -> Sequence[Ingested]:
        driver = await self._driver()
        async with self._writers.turn():
            # On the connection's thread, as aiosqlite runs each of its calls.
            done = await driver._execute(sqlite_ingest.write_group, driver._conn, plans)
        return done if done is not None else await self._write_declined(plans)

    async def _driver(self) -> Any:
        """The aiosqlite connection of the statement: one of the engine's,
        checked out for the store's life (so set up as all of them), on
        which SQLAlchemy never begins a transaction."""
        async with self._connecting:  # GroupCommit may write the parts of a failed group at once
            if self._connection is None:
                self._connection = await self._engine.connect()
        return (await self._connection.get_raw_connection()).driver_connection

    async def _write_declined(self, plans: list[IngestPlan]) -> Sequence[Ingested]:
        """A group the statement declined some of, in SQLAlchemy's transaction."""
        try:
            async with self._engine.begin() as connection:  # BEGIN IMMEDIATE, in the writers' queue
                return await self._write_in(connection, plans)
        except sqlite_ingest.SilencesInForce:
            pass
        if len(plans) == 1:  # alone: one transaction, no read before it
            return [await super().ingest(plans[0])]
        return await self._write_together(plans)

    async def _write_in(self, connection: AsyncConnection, plans: list[IngestPlan]) -> list[Ingested]:
        """The group in order, in the connection's transaction: runs of
        submissions through the statement, each one it declines through the
        ORM store in its place (a session joined to the transaction)."""
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        done: list[Ingested] = []
        while len(done) < len(plans):
            # On the connection's thread, as every call of aiosqlite runs.
            written = await driver._execute(
                sqlite_ingest.write, driver._conn, plans[len(done) :], check_silences=not done
            )
            done += written.done
            if written.declined:
                async with AsyncSession(bind=connection, expire_on_commit=False, autoflush=False) as session:
                    done.append(await orm_store.ingest(session, plans[len(done)], hold=self.hold))
        return done

    async def ingest(self, plan: IngestPlan) -> Ingested:
        return await self.writer.write(plan)

    async def close(self) -> None:
        await self.writer.close()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
