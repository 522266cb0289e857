"""PeriodicWorker: a stop lets the run under way finish, unless it overstays;
wakes asked for soon share one run."""

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


async def test_wakes_asked_for_soon_share_one_run() -> None:
    runs = asyncio.Queue[int]()
    worker = PeriodicWorker("soon", lambda: runs.put(1), interval=60)
    worker.start()
    await asyncio.wait_for(runs.get(), 5)  # the first run, at start
    for _ in range(50):
        worker.wake_soon(0.2)
    await asyncio.sleep(0)
    assert runs.empty()  # not at once
    await asyncio.wait_for(runs.get(), 5)
    await asyncio.sleep(0.4)  # twice the delay: no second run comes from the same window
    assert runs.empty() and worker.runs == 2
    worker.wake_soon(0.05)  # a later wake gets a run of its own
    await asyncio.wait_for(runs.get(), 5)
    await worker.stop()


async def test_stop_drops_a_wake_asked_for_soon() -> None:
    runs = asyncio.Queue[int]()
    worker = PeriodicWorker("dropped", lambda: runs.put(1), interval=60)
    worker.start()
    await asyncio.wait_for(runs.get(), 5)
    worker.wake_soon(0.1)
    await worker.stop()
    await asyncio.sleep(0.2)
    assert runs.empty() and worker.runs == 1
