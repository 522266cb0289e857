"""The live list: server-sent events that tell open consoles "something changed".

One watcher per process, however many consoles are open: while anyone
listens it reads the newest history event's id (queries.latest_change, one
index lookup) every `interval` seconds, and each listener's stream sends
`event: changed` when that id moves. The page then fetches its own rows
again, with its own filters and the caller's team, so the event itself
carries no alert and leaks nothing. Changes made by another replica are
seen the same way as this process's own.

A stream ends after STREAM_SECONDS: the browser reconnects by itself (after
`retry`), sending the last id it saw, and hears at once about anything it
missed. Short streams also let a server that is stopping finish its open
requests quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.services import queries

log = logging.getLogger(__name__)

STREAM_SECONDS = 25.0
KEEPALIVE_SECONDS = 10.0
RETRY_MILLISECONDS = 1000


class ChangeWatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, interval: float = 1.0) -> None:
        self._sessionmaker = sessionmaker
        self._interval = interval
        self._changed = asyncio.Condition()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
        self.latest: int | None = None

    async def _read(self) -> int:
        async with self._sessionmaker() as session:
            return await queries.latest_change(session)

    async def _watch(self) -> None:
        while self._listeners:
            try:
                latest = await self._read()
            except Exception as exc:  # an outage: keep the streams open and try again
                log.warning("live list: cannot read changes (%s)", type(exc).__name__)
            else:
                if latest != self.latest:
                    self.latest = latest
                    async with self._changed:
                        self._changed.notify_all()
            await asyncio.sleep(self._interval)
        self._task = None

    async def stream(self, request: Request, last_seen: int | None) -> AsyncIterator[str]:
        self._listeners += 1
        if self._task is None:
            self.latest = await self._read()
            self._task = asyncio.create_task(self._watch(), name="console-live-list")
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            seen = last_seen if last_seen is not None else self.latest
            loop = asyncio.get_running_loop()
            ends = loop.time() + STREAM_SECONDS
            while loop.time() < ends and not await request.is_disconnected():
                if self.latest != seen:
                    seen = self.latest
                    yield f"event: changed\nid: {seen}\ndata: {seen}\n\n"
                    continue
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), KEEPALIVE_SECONDS)
                if self.latest == seen:
                    yield ": still here\n\n"  # keeps proxies from closing an idle stream
        finally:
            self._listeners -= 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
