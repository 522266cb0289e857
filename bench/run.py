"""`make bench`: every figure of the performance suite in one run.

Starts a private PostgreSQL (unless ALERTS_BENCH_POSTGRES_URL names one),
then measures, in order: the pgbench upsert floor; POST /alerts in the dedup
and create shapes under wrk; the same on SQLite, one worker, and kill -9
under load; the escalation tick, and one that pages people by stored
policies; delivery throughput to a
slow receiver; GET /stats on 10^4..10^6 alerts; worker memory while
10^6 alerts are ingested; and POST and GET /alerts with the most silences
in force; batches of 100 and 1,000 alerts on SQLite and PostgreSQL, and
what a single submission sees meanwhile; the console's stats page and
alert list on 10^5 alerts; POST /alerts through PgBouncer in transaction
mode beside the direct path; the CPU an alert costs the service and
PostgreSQL with 1, 2 and 4 workers, and the rate the capacity model
predicts from it; and at 10^7 alerts (BENCH_SCALE_ALERTS) GET /stats,
/alerts and /channels, the escalation tick and housekeeping. Prints one
line per figure and writes them all
to bench/results/<name>.json.

BENCH_ONLY=ingest,escalation,... limits the run to some parts;
BENCH_WORKERS sets the uvicorn workers (default 2).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from bench import (
    batches_bench,
    capacity_bench,
    console_bench,
    delivery_bench,
    escalation_bench,
    ingest_bench,
    paging_bench,
    scale_bench,
    silences_bench,
    sqlite_bench,
    stats_bench,
)
from bench.common import fresh_database, write_result
from bench.postgres import private_postgres
from bench.service import rss_mib, running_service
from tests.pgbouncer import PgBouncer

PARTS = (
    "ingest", "sqlite", "escalation", "paging", "delivery", "stats", "memory", "silences", "batches", "console", "pgbouncer",
    "capacity", "scale",
)  # fmt: skip


def ingest(url: str, workers: int) -> dict[str, Any]:
    fresh_database(url)
    asyncio.run(ingest_bench.prepare_floor(url))
    floor = ingest_bench.pgbench(url)
    print(f"floor    pgbench upsert, prepared, {ingest_bench.CONNECTIONS} clients: {floor:,.0f} tps")
    results: dict[str, Any] = {"pgbench_upserts_per_s": floor, "workers": workers}
    with running_service(url, workers=workers) as service:
        ingest_bench.seed_identities(service.url)
        asyncio.run(ingest_bench.analyze(url))
        for shape in ("dedup", "create"):
            figures = ingest_bench.wrk(service.url, shape)
            figures["ratio_to_floor"] = round(figures["requests_per_s"] / floor, 3)
            results[shape] = figures
            print(
                f"ingest   {shape:<6} {figures['requests_per_s']:>9,.0f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
                f"p99 {figures['p99_ms']:7.2f} ms  errors {figures['errors']}  "
                f"= {figures['ratio_to_floor']:.1%} of the floor"
            )
    write_result("ingest", results)
    return results


def pgbouncer(url: str, workers: int) -> dict[str, Any]:
    """POST /alerts in both shapes against two services on one database: one
    straight on PostgreSQL, one through a PgBouncer in transaction mode
    (`database_pooler = "pgbouncer"`: no prepared statements, so each
    statement is parsed and planned anew). Their runs alternate, in
    PGBOUNCER_ROUNDS pairs per shape, so that a change of load on the
    machine falls on both; the figure is the ratio within the pairs."""
    fresh_database(url)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        route: {"dedup": [], "create": []} for route in ("direct", "pgbouncer")
    }
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="alerts-bench-pgbouncer-") as directory,
        PgBouncer(url, Path(directory), pool_size=PGBOUNCER_POOL_SIZE) as bouncer,
        running_service(url, workers=workers) as direct,
        running_service(bouncer.url, workers=workers, database_pooler="pgbouncer") as pooled,
    ):
        ingest_bench.seed_identities(direct.url)
        asyncio.run(ingest_bench.analyze(url))
        for shape in ("dedup", "create"):
            for _ in range(PGBOUNCER_ROUNDS):
                for route, service in (("direct", direct), ("pgbouncer", pooled)):
                    runs[route][shape].append(ingest_bench.wrk(service.url, shape))
    results: dict[str, Any] = {
        "workers": workers,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "pgbouncer_pool_size": PGBOUNCER_POOL_SIZE,
        "runs": runs,
    }
    for shape in ("dedup", "create"):
        pairs = list(zip(runs["direct"][shape], runs["pgbouncer"][shape], strict=True))
        for direct_run, pooled_run in pairs:
            for route, figures in (("direct", direct_run), ("pgbouncer", pooled_run)):
                print(
                    f"pooler   {shape:<6} {route:<9} {figures['requests_per_s']:>9,.0f} req/s  "
                    f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:7.2f} ms  "
                    f"non-2xx {figures['non_2xx']}  socket errors {figures['socket_errors']}"
                )
        ratio = round(
            sum(p["requests_per_s"] for _, p in pairs) / sum(d["requests_per_s"] for d, _ in pairs), 3
        )
        results[f"{shape}_ratio"] = ratio
        print(f"pooler   {shape:<6} through PgBouncer = {ratio:.1%} of the direct rate ({len(pairs)} pairs)")
    print(f"pooler   load average (1 min) {load_before:.2f} before, {results['load_after']:.2f} after")
    return results


# PgBouncer's server connections (default_pool_size): its own default.
PGBOUNCER_POOL_SIZE = 20
PGBOUNCER_ROUNDS = 2


def memory(url: str, workers: int) -> dict[str, Any]:
    """Worker RSS after 10^4 alerts and after BENCH_MEMORY_ALERTS (default
    10^6) alerts created through the API (the create shape, the one that
    grows tables and indexes)."""
    target = int(os.environ.get("BENCH_MEMORY_ALERTS", "1000000"))
    fresh_database(url)
    checkpoints: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}
    with running_service(url, workers=workers) as service:
        created = 0
        rate = 10_000.0  # alerts/s: a guess that makes the first slice short, then measured
        for mark in (10_000, target):
            while created < mark:
                # Slices sized from the rate of the last one, so each reading
                # lands near its mark.
                seconds = max(1, min(60, int((mark - created) / rate)))
                figures = ingest_bench.wrk(service.url, "create", seconds=seconds)
                created += figures["requests"]
                rate = max(figures["requests_per_s"], 1.0)
            rss = [rss_mib(pid) for pid in service.worker_pids()]
            checkpoints[str(mark)] = [round(now, 1) for now, _ in rss]
            peaks[str(mark)] = [round(peak, 1) for _, peak in rss]
            print(
                f"memory   after {created:>9,} alerts: worker RSS {checkpoints[str(mark)]} MiB"
                f" (peak {peaks[str(mark)]} MiB)"
            )
    first, last = checkpoints["10000"], checkpoints[str(target)]
    growth = max(b / a for a, b in zip(first, last, strict=False)) - 1
    print(f"memory   growth from 10^4 to {target:,} alerts: {growth:+.1%} (largest worker)")
    return {"rss_mib": checkpoints, "peak_rss_mib": peaks, "growth": round(growth, 3), "alerts": target}


def main() -> None:
    only = [p for p in os.environ.get("BENCH_ONLY", ",".join(PARTS)).split(",") if p]
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    with private_postgres() as url:
        if "ingest" in only:
            ingest(url, workers)
        if "sqlite" in only:
            write_result("sqlite", sqlite_bench.main())
        if "escalation" in only:
            fresh_database(url)
            write_result("escalation", escalation_bench.main(url))
        if "paging" in only:
            fresh_database(url)
            write_result("paging", paging_bench.main(url))
        if "delivery" in only:
            fresh_database(url)
            write_result("delivery", delivery_bench.main(url))
        if "memory" in only:
            write_result("memory", memory(url, workers))
        if "stats" in only:
            stats_bench.main(url=url)
        if "silences" in only:
            silences_bench.main(url, workers)
        if "batches" in only:
            batches_bench.main(url, workers)
        if "console" in only:
            write_result("console", console_bench.main(url, workers))
        if "pgbouncer" in only:
            write_result("pgbouncer", pgbouncer(url, workers))
        if "capacity" in only:
            write_result("capacity", capacity_bench.main(url))
        if "scale" in only:
            scale_bench.main(url, workers)


if __name__ == "__main__":
    main()
