"""Capacity on paper, checked here: the CPU one alert costs the service and
PostgreSQL, measured under the ingest part's load with 1, 2 and 4 workers,
and the rate a model built from those costs predicts for each.

Over each wrk window the part reads the CPU time (user + system) of the
service's processes, of the PostgreSQL cluster's (the postmaster, its live
children, and the children it reaped meanwhile) and of wrk itself, and
divides by the requests answered. The model (bench/README.md, "Capacity"):

- one worker is one event loop, so it serves at most 1 / s_service alerts a
  second, where s_service is the service's CPU per alert;
- a PostgreSQL of M cores commits at most M / s_postgres;
- on this machine everything shares the same cores, so the rate is at most
  cores / (s_service + s_postgres + s_wrk).

The prediction for N workers is the smallest of N / s_service, the shared
cores' bound, and PostgreSQL's; the part prints it beside the measurement.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from app.db.pg_ingest import plain_dsn
from bench import ingest_bench
from bench.common import fresh_database
from bench.service import running_service

WORKERS = (1, 2, 4)
TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def _cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system time of one process (and of the children it reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0  # gone meanwhile
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICKS


async def _postmaster_pid(url: str) -> int:
    conn = await asyncpg.connect(plain_dsn(url))
    try:  # the backend's parent, read while the backend lives
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        return _parent_of(backend)
    finally:
        await conn.close()


def _parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def postmaster_of(url: str) -> int:
    """The server at `url`: the parent of one of its backends (local servers only)."""
    return asyncio.run(_postmaster_pid(url))


@dataclass
class Meter:
    """CPU seconds used by the service, PostgreSQL and wrk since `start`."""

    service_pid: int
    postmaster_pid: int

    def read(self) -> tuple[float, float, float]:
        service = sum(_cpu_seconds(pid) for pid in _tree(self.service_pid))
        postgres = _cpu_seconds(self.postmaster_pid, reaped=True) + sum(
            _cpu_seconds(pid) for pid in _tree(self.postmaster_pid)[1:]
        )
        own = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
        return service, postgres, own.ru_utime + own.ru_stime


def measure(url: str, workers: int) -> dict[str, Any]:
    fresh_database(url)
    figures: dict[str, Any] = {}
    with running_service(url, workers=workers) as service:
        ingest_bench.seed_identities(service.url)
        asyncio.run(ingest_bench.analyze(url))
        meter = Meter(service.process.pid, postmaster_of(url))
        for shape in ("dedup", "create"):
            before, started = meter.read(), time.monotonic()
            run = ingest_bench.wrk(service.url, shape)
            after, elapsed = meter.read(), time.monotonic() - started
            answered = max(run["requests"], 1)
            service_s, postgres_s, wrk_s = ((b - a) / answered for a, b in zip(before, after, strict=True))
            figures[shape] = {
                **run,
                "service_cpu_us": round(service_s * 1e6, 1),
                "postgres_cpu_us": round(postgres_s * 1e6, 1),
                "wrk_cpu_us": round(wrk_s * 1e6, 1),
                "cores_busy": round((after[0] + after[1] + after[2] - sum(before)) / elapsed, 2),
            }
    return figures


def predict(costs: dict[str, float], workers: int, *, cores: int) -> dict[str, float]:
    """The model's bounds, in alerts per second, from the costs of one alert."""
    service, postgres, wrk = (costs[k] / 1e6 for k in ("service_cpu_us", "postgres_cpu_us", "wrk_cpu_us"))
    bounds = {
        "workers": workers / service,
        "postgres": cores / postgres,
        "shared_cores": cores / (service + postgres + wrk),
    }
    return {name: round(value) for name, value in bounds.items()}


def main(url: str) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    results: dict[str, Any] = {"cores": cores, "runs": {}}
    for workers in WORKERS:
        figures = measure(url, workers)
        results["runs"][str(workers)] = figures
        for shape, run in figures.items():
            bounds = predict(run, workers, cores=cores)
            run["model"] = bounds
            limit = min(bounds, key=bounds.__getitem__)
            print(
                f"capacity {workers} worker(s) {shape:<6} {run['requests_per_s']:>7,.0f} req/s  "
                f"p99 {run['p99_ms']:6.1f} ms  CPU per alert: service {run['service_cpu_us']:5.0f} us, "
                f"PostgreSQL {run['postgres_cpu_us']:5.0f} us, wrk {run['wrk_cpu_us']:4.0f} us  "
                f"({run['cores_busy']:.2f} cores busy)  model {bounds[limit]:,} ({limit})"
            )
    return results
