"""A small periodic task: start, stop, wake, and log failures.

The job runs every `interval` seconds, or at once when woken (an
acknowledgement that queued notifications wakes the delivery worker), or
shortly after when woken soon (submissions, whose wakes within the delay
share one run). A failing run is logged and retried with backoff up to
`max_backoff`, so a database outage neither kills the worker nor spins it;
the first successful run restores the interval.
Stopping lets a run under way finish (up to `grace` seconds) rather than
cancel it inside its transaction, which would leave the connection to be
cleaned up after the loop has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.db.outage import is_database_outage

log = logging.getLogger(__name__)


class PeriodicWorker:
    def __init__(
        self,
        name: str,
        job: Callable[[], Awaitable[object]],
        *,
        interval: float,
        max_backoff: float = 30.0,
    ) -> None:
        self.name = name
        self._job = job
        self._interval = interval
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._soon: asyncio.TimerHandle | None = None
        self.runs = 0
        self.failures = 0

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name=f"worker-{self.name}")

    def wake(self) -> None:
        self._wake.set()

    def wake_soon(self, delay: float) -> None:
        """Wake after `delay` seconds; wakes asked for meanwhile share the
        earliest of them."""
        loop = asyncio.get_running_loop()
        if self._soon is not None and self._soon.when() <= loop.time() + delay:
            return
        if self._soon is not None:
            self._soon.cancel()
        self._soon = loop.call_later(delay, self._woken_soon)

    def _woken_soon(self) -> None:
        self._soon = None
        self._wake.set()

    async def stop(self, *, grace: float = 5.0) -> None:
        if self._task is None:
            return
        self._stopping = True
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _loop(self) -> None:
        delay = self._interval
        while not self._stopping:
            self._wake.clear()
            try:
                await self._job()
                self.runs += 1
                delay = self._interval
            except Exception as exc:  # a worker must outlive any one failure
                self.failures += 1
                delay = min(self._max_backoff, max(delay, 0.5) * 2)
                if is_database_outage(exc):
                    log.warning(
                        "%s: database unavailable (%s); retrying in %.1fs",
                        self.name,
                        type(exc).__name__,
                        delay,
                    )
                else:
                    log.exception("%s: run failed; retrying in %.1fs", self.name, delay)
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
