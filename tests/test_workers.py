"""PeriodicWorker: a stop lets the run under way finish, unless it overstays."""

from __future__ import annotations

import asyncio

from app.workers import PeriodicWorker


async def test_stop_lets_the_run_under_way_finish() -> None:
    started, finished = asyncio.Event(), []

    async def job() -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(True)

    worker = PeriodicWorker("slow", job, interval=60)
    worker.start()
    await started.wait()
    await worker.stop()
    assert finished == [True] and worker.runs == 1


async def test_stop_cancels_a_run_past_the_grace_period() -> None:
    started, finished = asyncio.Event(), []

    async def job() -> None:
        started.set()
        await asyncio.sleep(60)
        finished.append(True)

    worker = PeriodicWorker("stuck", job, interval=60)
    worker.start()
    await started.wait()
    await worker.stop(grace=0.1)
    assert finished == [] and worker.runs == 0


async def test_a_stopped_worker_starts_again() -> None:
    runs = asyncio.Queue[int]()
    worker = PeriodicWorker("again", lambda: runs.put(1), interval=60)
    worker.start()
    await asyncio.wait_for(runs.get(), 5)
    await worker.stop()
    worker.start()
    await asyncio.wait_for(runs.get(), 5)
    await worker.stop()
