"""The delivery loop: claim ahead, keep attempts in flight, record in batches.

Up to `delivery_concurrency` attempts are in flight; a slow or hanging
channel holds only its own slots, the others keep flowing. The next claimed
row starts the moment a slot frees, from a small queue of rows claimed ahead
(at most one more round). Claiming in batches, when that queue runs half
empty, keeps the slots full under a burst; claiming one row per freed slot
made every send wait for a claim transaction. A freed slot claims again only
when the last claim filled its room, so more rows may be waiting; otherwise
new rows come with the wake of the commit that queued them (coalesced, see
INGEST_WAKE_DELAY) or with the next poll. Under a stream of submissions
each notifying, a claim per freed slot made claiming, most of it finding one
row or none, cost more than the submissions themselves.

A finished attempt frees its slot at once and hands its result to one
writer, which records everything that finished while it wrote the previous
batch in one transaction (group commit: one result at a time when traffic
is light, larger batches when it is not, and no timer to tune). One
transaction per result cost more CPU than the send itself. Until its batch
commits a row stays `sending` under its lease, so a crash in between means
the row is sent again after the lease, never dropped; a batch that fails to
commit is left the same way.

The claims and the writes are the store's (db/store.py): on PostgreSQL one
statement each on the asyncpg pool; on SQLite one short transaction each,
run whole in one call on a thread of its own, which lets waiting
submissions take the write lock first (db/sqlite_delivery.py).

Flood control and provider pauses (services/flood.py) are the database's,
so that replicas share them; this loop only passes each claim its quotas,
wakes when a minute's digests fall due, and keeps the pauses its own
results announced: a row claimed ahead whose channel was paused meanwhile
is handed back unattempted (its attempt uncounted) instead of being sent.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections import deque
from collections.abc import Callable
from datetime import datetime

from app.db.outage import is_database_outage
from app.db.store import ClaimedRow, Failed, Released, Sent, Store
from app.metrics import DELIVERY_SECONDS, NOTIFICATIONS
from app.notifiers.base import Notifier
from app.services import flood
from app.services.delivery import Attempt, attempt, channel_timeout, failure
from app.services.outbox import in_order
from app.settings import Settings

log = logging.getLogger(__name__)

# A submission that queued notifications wakes the delivery worker this long
# after, not at once: every submission that queues within the window shares
# one claim. During an outage's burst that is one claim per 50 ms instead
# of one per notification; a notification waits at most that much longer.
INGEST_WAKE_DELAY = 0.05
MAX_RETRY_WAKES = 1_024


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        notifiers: dict[str, Notifier],
        settings: Settings,
        clock: Callable[[], datetime],
        on_slot_free: Callable[[], None] = lambda: None,
        on_retry_due: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._store = store
        self._notifiers = notifiers
        self._settings = settings
        self._clock = clock
        self._on_slot_free = on_slot_free
        # Told how many seconds until the earliest retry still to come, so the
        # worker wakes for it instead of waiting for its next poll. The times
        # are kept here (event-loop time, to 10 ms, at most MAX_RETRY_WAKES),
        # and every run asks again for the next one: a wake that came earlier
        # for another reason (a submission) must not swallow a retry's.
        self._on_retry_due = on_retry_due
        self._retry_wakes: list[float] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._queue: deque[ClaimedRow] = deque()
        self._finished: list[tuple[ClaimedRow, Attempt]] = []
        self._released: list[Released] = []
        self._paused: dict[str, datetime] = {}  # channel -> until, from this process's results
        self._digest_wake: datetime | None = None  # the window end a wake was asked for
        self._writer: asyncio.Task[None] | None = None
        self._more_due = False  # the last claim filled its room: rows may be waiting
        # Channels that get one alert's notifications one at a time (db/store.py).
        self._in_order = in_order(settings)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run_once(self) -> int:
        """Claim a batch when the queue is half empty; start what fits.
        Results not yet recorded count against the room, so a database that
        falls behind slows the claiming instead of piling up results."""
        concurrency = self._settings.delivery_concurrency
        room = (
            2 * concurrency
            - len(self._in_flight)
            - len(self._queue)
            - len(self._finished)
            - len(self._released)
        )
        started = asyncio.get_running_loop().time()
        claimed: list[ClaimedRow] = []
        if room > 0 and len(self._queue) <= concurrency // 2:
            claimed = await self._claim(room)
            self._queue.extend(claimed)
            self._more_due = len(claimed) == room
        while self._retry_wakes and self._retry_wakes[0] <= started:
            # Due by now: claimed just now, or (no room) by the run a freed slot makes.
            heapq.heappop(self._retry_wakes)
        self._start_queued()
        self._ask_for_next_retry()
        return len(claimed)

    async def _claim(self, limit: int) -> list[ClaimedRow]:
        now = self._clock()
        quotas = flood.quotas(self._settings, now)
        claimed = await self._store.claim(
            now=now,
            limit=limit,
            lease_seconds=self._settings.delivery_lease_seconds,
            quotas=quotas,
            in_order=self._in_order,
        )
        if quotas is not None and self._digest_wake != quotas.window_end:
            # A digest this claim may have opened falls due when the minute ends.
            self._digest_wake = quotas.window_end
            self._expect_retry((quotas.window_end - now).total_seconds())
        return claimed

    def _start_queued(self) -> None:
        while self._queue and len(self._in_flight) < self._settings.delivery_concurrency:
            row = self._queue.popleft()
            until = self._paused.get(row.channel)
            if until is not None and until > self._clock():
                self._hand_back(Released(row, until))
                continue
            task = asyncio.create_task(self._deliver(row), name=f"deliver-{row.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("a delivery attempt failed unexpectedly", exc_info=error)
        self._start_queued()
        if self._more_due and len(self._queue) <= self._settings.delivery_concurrency // 2:
            self._on_slot_free()  # time to claim the next batch

    async def _deliver(self, claimed: ClaimedRow) -> None:
        result = await attempt(
            claimed,
            self._notifiers.get(claimed.channel),
            timeout=channel_timeout(self._settings, claimed.channel),
            public_url=self._settings.public_url,
        )
        DELIVERY_SECONDS.labels(claimed.channel).observe(result.duration_ms / 1000.0)
        self._finished.append((claimed, result))
        self._start_writer()

    def _hand_back(self, released: Released) -> None:
        self._released.append(released)
        self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="delivery-results")

    async def _write(self) -> None:
        """Record finished attempts until none are left, a batch at a time."""
        try:
            while self._finished or self._released:
                batch, self._finished = self._finished, []
                released, self._released = self._released, []
                try:
                    outcomes = await self._record(batch, released)
                except Exception as exc:  # the rows stay `sending`: sent again after their lease
                    if is_database_outage(exc):
                        log.warning(
                            "recording %d delivery results failed: database unavailable (%s)",
                            len(batch),
                            type(exc).__name__,
                        )
                    else:
                        log.error("recording %d delivery results failed", len(batch), exc_info=exc)
                    continue
                for (claimed, result), outcome in zip(batch, outcomes, strict=True):
                    _report(claimed, result, outcome)
                if any(claimed.channel in self._in_order and claimed.alert_id for claimed, _ in batch):
                    self._on_slot_free()  # the next row of that alert on that channel may be waiting
        finally:
            self._writer = None

    async def _record(
        self, batch: list[tuple[ClaimedRow, Attempt]], released: list[Released]
    ) -> list[str | None]:
        """Record a batch (and the rows handed back); per result its new
        status, or None when its lease was lost."""
        now = self._clock()
        sent = [Sent(claimed, result.duration_ms, result.reference) for claimed, result in batch if result.ok]
        failed: list[Failed] = [
            failure(claimed, result, settings=self._settings, now=now)
            for claimed, result in batch
            if not result.ok
        ]
        for item in failed:
            if item.pause_until is not None and item.pause_until > now:
                channel = item.row.channel
                self._paused[channel] = max(item.pause_until, self._paused.get(channel, item.pause_until))
        self._paused = {channel: until for channel, until in self._paused.items() if until > now}
        statuses = await self._store.record(sent=sent, failed=failed, now=now, released=released)
        retries = [item.next_attempt_at for item in failed if statuses.get(item.row.id) == "pending"]
        # A pause's end is a retry too: its channel's rows are due again then.
        wakes = {item.pause_until for item in failed if item.pause_until is not None}
        wakes |= {item.until for item in released}
        if retries:
            wakes.add(min(retries))
        for when in sorted(wakes):
            self._expect_retry((when - now).total_seconds())
        for held in released:
            log.info(
                "delivery held: channel paused",
                extra={"notification_id": str(held.row.id), "channel": held.row.channel},
            )
        return [statuses.get(claimed.id) for claimed, _ in batch]

    def _expect_retry(self, seconds: float) -> None:
        # Rounded up, never early: a wake before the row is due would find nothing.
        when = math.ceil((asyncio.get_running_loop().time() + max(0.0, seconds)) * 100) / 100
        if when not in self._retry_wakes and len(self._retry_wakes) < MAX_RETRY_WAKES:
            heapq.heappush(self._retry_wakes, when)  # beyond the cap, the poll finds them
        self._ask_for_next_retry()

    def _ask_for_next_retry(self) -> None:
        if self._retry_wakes:
            self._on_retry_due(max(0.0, self._retry_wakes[0] - asyncio.get_running_loop().time()))

    async def drain(self) -> None:
        """Wait for every attempt in flight and for its result to be recorded
        (tests, and a graceful stop)."""
        while self._in_flight or self._writer is not None or self._released:
            if self._released and self._writer is None:
                self._start_writer()
            waiting = [*self._in_flight, *([self._writer] if self._writer else [])]
            await asyncio.gather(*waiting, return_exceptions=True)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let attempts in flight finish for a moment, then cancel the rest,
        and record what finished. The cancelled rows, and those claimed
        ahead but not started, are claimed again when their lease expires (by
        this process after a restart, or by a replica)."""
        self._queue.clear()
        if self._in_flight:
            _, pending = await asyncio.wait(list(self._in_flight), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


def _report(claimed: ClaimedRow, result: Attempt, outcome: str | None) -> None:
    if outcome is None:
        # Our lease ran out mid-attempt and the row was claimed again: the
        # newer attempt owns the row and its result.
        log.warning(
            "delivery lease lost", extra={"notification_id": str(claimed.id), "channel": claimed.channel}
        )
        return
    NOTIFICATIONS.labels(claimed.channel, "retry" if outcome == "pending" else outcome).inc()
    # A retry is a warning; a notification given up on is an error someone must see.
    level = {"sent": logging.INFO, "pending": logging.WARNING}.get(outcome, logging.ERROR)
    log.log(
        level,
        "delivery %s",
        "retry" if outcome == "pending" else outcome,
        extra={
            "notification_id": str(claimed.id),
            "alert_id": str(claimed.alert_id) if claimed.alert_id else None,
            "channel": claimed.channel,
            "reason": claimed.reason,
            "attempt": claimed.attempts,
            "outcome": outcome,
            "error": result.error,
        },
    )
