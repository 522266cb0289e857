"""The jobs the periodic workers run: escalation, housekeeping, silence release,
the heartbeat check.

Each job owns its transaction, as a route does, and the services only flush.
What follows a commit (counting escalation steps, waking delivery for the
notifications just queued) is a callback from main.py, so the jobs depend on
neither the metrics nor the workers, and main.py only wires them up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.services import heartbeats, housekeeping
from app.services.escalation import Step, escalate_due
from app.services.silences import release_ended
from app.settings import Settings


class Jobs:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        settings: Settings,
        clock: Callable[[], datetime],
        wake_delivery: Callable[[], None],
        on_steps: Callable[[list[Step]], None],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock
        self._wake_delivery = wake_delivery
        self._on_steps = on_steps

    async def escalate(self) -> None:
        """One escalation tick; delivery is woken when a step queued notifications."""
        async with self._sessionmaker() as session, session.begin():
            steps = await escalate_due(session, now=self._clock(), settings=self._settings)
        self._on_steps(steps)
        if any(step.notifications for step in steps):
            self._wake_delivery()

    async def keep_house(self) -> None:
        # housekeeping.run commits per batch, so it takes the sessionmaker.
        await housekeeping.run(self._sessionmaker, settings=self._settings, now=self._clock())

    async def release_silences(self) -> None:
        """Release ended silences; delivery is woken for what they held back."""
        async with self._sessionmaker() as session, session.begin():
            released = await release_ended(session, settings=self._settings, now=self._clock())
        if released:
            self._wake_delivery()

    async def check_heartbeats(self) -> list[heartbeats.Missed]:
        """Open an alert for each heartbeat past its timeout; delivery is
        woken for the notifications they queued."""
        async with self._sessionmaker() as session, session.begin():
            missed = await heartbeats.check_due(session, settings=self._settings, now=self._clock())
        if any(m.queued for m in missed):
            self._wake_delivery()
        return missed
