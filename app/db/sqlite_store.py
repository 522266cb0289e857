"""The store on SQLite: submissions that arrive together share one write
transaction (db/group_commit.py).

SQLite has one writer at a time. Written one by one, each submission was a
transaction of its own, all of them queued for that lock; now a lone
submission still goes alone, through the ORM store, and those that arrive
while it writes go together in the next transaction, as a batch
(services/batch.py: one read, the batch worked out in memory, one
executemany per statement). A batch gives the same alerts, history and
outbox rows as its submissions written one by one in order, so the answers
are the same, only sooner. One write runs at a time; deliveries and every
other writer take their turn between them (db/engine.py queues this
process's writers).

Claims and results of deliveries are the ORM store's, unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
        self.writer: GroupCommit[Ingested] = GroupCommit(
            self._write,
            in_flight=1,
            max_batch=MAX_BATCH,
            one_per_identity=False,  # a batch merges repeats in order
            group=_team_and_rules,
            on_batch=on_batch,
        )

    async def _write(self, plans: list[IngestPlan]) -> Sequence[Ingested]:
        if len(plans) == 1:  # alone: one transaction, no read before it
            return [await super().ingest(plans[0])]
        return await self._write_together(plans)

    async def ingest(self, plan: IngestPlan) -> Ingested:
        return await self.writer.write(plan)

    async def close(self) -> None:
        await self.writer.close()
