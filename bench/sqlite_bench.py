"""The embedded default under load: POST /alerts on SQLite (a file), in the
dedup and create shapes under wrk, as `make run` serves it (one worker); then
kill -9 under load, and every answered submission looked for after a restart.

The targets (bench/README.md): at 32 connections, 1,000 creates/s and 2,000
duplicates/s, p99 under 100 ms, no errors, nothing answered lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench import ingest_bench
from bench.common import fresh_sqlite
from bench.service import running_service

KILL_AFTER_SECONDS = 3.0  # of load, counted from the first answer
FIRST_ANSWER_TIMEOUT_SECONDS = 60.0


async def _submit_until_killed(url: str, pid: int, *, connections: int) -> tuple[list[str], int]:
    """New alerts from `connections` clients; the server is killed mid-load.
    The ids of the submissions answered 201, and how many failed (the ones
    under way when it died)."""
    answered: list[str] = []
    failed = 0
    killed = asyncio.Event()
    # The clock starts at the first answer: on a loaded machine, setting up
    # 32 clients took longer than the whole window, and nothing was answered.
    first_answer = asyncio.Event()

    async def client(n: int) -> None:
        nonlocal failed
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            sent = 0
            while not killed.is_set():
                sent += 1
                body = {
                    "alert_type": "crash",
                    "severity": "low",
                    "message": "m",
                    "source": f"kill-{n}-{sent}",
                }
                try:
                    response = await http.post("/alerts", json=body)
                except httpx.HTTPError:
                    failed += 1
                    return
                if response.status_code == 201:
                    answered.append(response.json()["id"])
                    first_answer.set()

    async def killer() -> None:
        with contextlib.suppress(TimeoutError):  # killed unanswered: the part reports 0 answered
            await asyncio.wait_for(first_answer.wait(), FIRST_ANSWER_TIMEOUT_SECONDS)
        await asyncio.sleep(KILL_AFTER_SECONDS)
        os.kill(pid, signal.SIGKILL)
        killed.set()

    await asyncio.gather(killer(), *(client(n) for n in range(connections)))
    return answered, failed


async def _missing(url: str, ids: list[str]) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        semaphore = asyncio.Semaphore(16)

        async def absent(alert_id: str) -> bool:
            async with semaphore:
                return (await http.get(f"/alerts/{alert_id}")).status_code != 200

        return sum(await asyncio.gather(*(absent(alert_id) for alert_id in ids)))


def main(workers: int = 1) -> dict[str, Any]:
    results: dict[str, Any] = {"workers": workers, "connections": ingest_bench.CONNECTIONS}
    with tempfile.TemporaryDirectory(prefix="alerts-bench-sqlite-") as directory:
        url = fresh_sqlite(Path(directory))
        with running_service(url, workers=workers) as service:
            ingest_bench.seed_identities(service.url)
            for shape in ("dedup", "create"):
                figures = ingest_bench.wrk(service.url, shape)
                results[shape] = figures
                print(
                    f"sqlite   {shape:<6} {figures['requests_per_s']:>9,.0f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
                    f"p99 {figures['p99_ms']:7.2f} ms  errors {figures['errors']}  ({workers} worker)"
                )
        with running_service(url, workers=1) as service:
            answered, failed = asyncio.run(
                _submit_until_killed(service.url, service.process.pid, connections=ingest_bench.CONNECTIONS)
            )
        with running_service(url, workers=1) as service:
            missing = asyncio.run(_missing(service.url, answered))
        results["kill_9"] = {"answered": len(answered), "in_flight_when_killed": failed, "lost": missing}
        print(
            f"sqlite   kill -9 under load: {len(answered):,} answered, {failed} under way when killed, "
            f"{missing} answered and not found after restart"
        )
    return results
