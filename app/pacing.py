"""Long CPU work inside a request, in slices that let the process's other
requests in.

A batch of 1,000 alerts is a few hundred milliseconds of Python in the
process that serves it (validation, the rules replayed, rows encoded). A
single submission served by the same process meanwhile needs some tens of
turns of the event loop: every database call is one or more. When each of
its turns waited for a slice of 100 alerts of the batch, it waited about
as long as the whole batch (measured: p99 300 ms against 300 ms per batch).
So long work yields whenever it has run SLICE_SECONDS since it last did, and
a turn of anyone else's waits at most about that long.
"""

from __future__ import annotations

import asyncio
import time

SLICE_SECONDS = 0.002


class Pacer:
    __slots__ = ("_deadline",)

    def __init__(self) -> None:
        self._deadline = time.perf_counter() + SLICE_SECONDS

    async def turn(self) -> None:
        """Let the event loop run others if this work has had its slice."""
        if time.perf_counter() >= self._deadline:
            await asyncio.sleep(0)
            self._deadline = time.perf_counter() + SLICE_SECONDS
