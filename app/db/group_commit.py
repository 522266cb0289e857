"""Group commit: concurrent submissions share one write and one commit, and
each caller is answered only after that commit.

A lone submission is written at once. While `in_flight` writes are running,
new submissions wait in a queue and go together in the next one, so batches
grow with the load by themselves: no timer, no added latency when idle.

- On PostgreSQL a write is one ingest statement (db/pg_ingest.py, through
  db/pg_store.py). One statement for 16 submissions costs PostgreSQL about a
  seventh of the CPU per submission of 16 statements (bench/README.md), and
  the service one driver call instead of 16. A statement holds each identity
  at most once (it cannot update a row twice): a second submission of the
  same alert waits for the next one.
- On SQLite a write is one transaction of an upsert per submission
  (db/sqlite_ingest.py, through db/sqlite_store.py), which merges repeats of
  an identity in order. SQLite has one writer at a time: one transaction for
  many submissions instead of one each, which all queued for that lock.

If a write of several submissions fails for any reason but a database outage
(a deadlock with another writer, say), each of its submissions is written
again alone, so one bad row cannot fail its neighbours. A write that never
reached the server, its connection lost, is tried again once by the store; one
lost on the way may have committed, and its callers get the outage (a 503).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from app.db.outage import is_database_outage
from app.db.store import IngestPlan

log = logging.getLogger(__name__)

R = TypeVar("R")

# Writes the plans, in one transaction; one result each, in their order.
WriteMany = Callable[[list[IngestPlan]], Awaitable[Sequence[R]]]


def same_rules(plan: IngestPlan) -> Hashable:
    """One write takes one set of decisions (one settings object)."""
    return id(plan.decisions)


class GroupCommit(Generic[R]):
    """`group` names what the submissions of one write share (`same_rules`,
    or more); `one_per_identity` keeps repeats of an identity for the next
    write."""

    def __init__(
        self,
        write_many: WriteMany[R],
        *,
        in_flight: int,
        max_batch: int,
        one_per_identity: bool,
        group: Callable[[IngestPlan], Hashable] = same_rules,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._write_many = write_many
        self.in_flight = in_flight
        self.max_batch = max_batch
        self._one_per_identity = one_per_identity
        self._group = group
        self._on_batch = on_batch  # told each written batch's size (a metric)
        self._queue: deque[tuple[IngestPlan, asyncio.Future[R]]] = deque()
        self._running: set[asyncio.Task[None]] = set()
        self._flush_scheduled = False

    async def write(self, item: IngestPlan) -> R:
        """The submission's result, once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if not self._flush_scheduled:
            # After the callbacks already due: submissions that arrived in the
            # same turn of the event loop go together.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._queue and len(self._running) < self.in_flight:
            task = asyncio.ensure_future(self._run(self._take()))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._queue and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _take(self) -> list[tuple[IngestPlan, asyncio.Future[R]]]:
        batch: list[tuple[IngestPlan, asyncio.Future[R]]] = []
        later: list[tuple[IngestPlan, asyncio.Future[R]]] = []
        seen: set[tuple[str, str]] = set()
        group: Hashable = None
        # A burst of one alert leaves a queue of its duplicates: look no
        # further than a few batches' worth for other fingerprints.
        while self._queue and len(batch) < self.max_batch and len(later) < 4 * self.max_batch:
            entry = self._queue.popleft()
            plan = entry[0]
            identity = (plan.team, plan.fingerprint)
            key = self._group(plan)
            if (self._one_per_identity and identity in seen) or (batch and key != group):
                later.append(entry)
            else:
                group = key
                seen.add(identity)
                batch.append(entry)
        self._queue.extendleft(reversed(later))
        return batch

    async def _run(self, batch: list[tuple[IngestPlan, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write_many([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or is_database_outage(exc):
                for _, future in batch:
                    _fail(future, exc)
                return
            log.warning("ingest batch of %d failed (%s); writing each alone", len(batch), type(exc).__name__)
            await asyncio.gather(*(self._run([entry]) for entry in batch))
            return
        self._on_batch(len(batch))
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    async def close(self) -> None:
        """Wait for the statements under way (their callers are owed an answer)."""
        while self._running or self._queue:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            else:
                await asyncio.sleep(0)


def _settle(future: asyncio.Future[R], result: R) -> None:
    if not future.done():  # else the caller has gone (cancelled); the write stands
        future.set_result(result)


def _fail(future: asyncio.Future[R], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
