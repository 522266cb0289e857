"""Batches: POST /alerts with arrays and Alertmanager notifications, on SQLite
and PostgreSQL, against uvicorn with N workers.

For each database, on a fresh one:
- alerts/s for batches of 100 and of 1,000, sent back to back by one
  client: new alerts (create) and the same alerts again (dedup);
- the latency one client's single submissions see, one at a time, alone
  (the baseline) and while the batches of 100 or 1,000 run (median, p99);
  and how long the batches of 100 themselves took, for scale;
- one Alertmanager notification of 1,000 alerts: firing (new), firing again
  (duplicates), resolved; median of 3 rounds;
- the single submissions during batches of 1,000 again, on a service with
  notifications off: what is left without the delivery of every batch's
  notices;
- on PostgreSQL, the pgbench upsert floor (bench/floor.sql) on the same
  database just before, and each batch figure as a ratio of it.

Bodies are serialised before the clock starts and answers are not parsed,
so the client's own Python weighs little. Alerts are `low`, so the console
channel's notices are logged at INFO, below the bench's log level, while
their delivery still runs as it would.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench import ingest_bench
from bench.common import fresh_database, fresh_sqlite, plain_dsn, write_result
from bench.service import running_service

SIZES = (100, 1000)
SINGLES = 200  # the baseline's single submissions
LOADED_SECONDS = 8.0  # single submissions measured while batches run
AM_ROUNDS = 3
MAX_BODY = str(8 * 1024 * 1024)
JSON = {"content-type": "application/json"}


def _alert(prefix: str, n: int) -> dict[str, Any]:
    return {
        "alert_type": "bench_batch",
        "severity": "low",
        "message": f"{prefix} {n} is failing",
        "source": f"{prefix}-{n}",
        "labels": {"env": "bench", "shard": str(n % 16)},
        "details": {"n": n},
    }


def _batch(prefix: str, size: int) -> bytes:
    return orjson.dumps([_alert(prefix, n) for n in range(size)])


def _am(round_: int, n: int, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "BenchDown", "severity": "info", "instance": f"node-{n}:9100", "job": "node"},
        "annotations": {"summary": f"node-{n} is down", "description": "no scrape for 5m"},
        "startsAt": "2026-01-05T08:55:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-05T09:10:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": f"r{round_}-{n:05d}",
    }


def _notification(round_: int, status: str, size: int = 1000) -> bytes:
    return orjson.dumps(
        {
            "version": "4",
            "status": status,
            "receiver": "bench",
            "groupKey": '{}:{alertname="BenchDown"}',
            "alerts": [_am(round_, n, status) for n in range(size)],
        }
    )


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "n": len(ordered),
    }


async def _post(client: httpx.AsyncClient, path: str, body: bytes) -> float:
    started = time.perf_counter()
    response = await client.post(path, content=body, headers=JSON)
    elapsed = time.perf_counter() - started
    if response.status_code >= 300:
        raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    return elapsed


async def _singles(client: httpx.AsyncClient, prefix: str, *, until: asyncio.Event) -> list[float]:
    """One submission at a time, a new alert each, until `until` is set."""
    samples: list[float] = []
    while not until.is_set():
        samples.append(await _post(client, "/alerts", orjson.dumps(_alert(prefix, len(samples)))))
    return samples


async def _alone(client: httpx.AsyncClient) -> list[float]:
    return [await _post(client, "/alerts", orjson.dumps(_alert("alone", n))) for n in range(SINGLES)]


async def _throughput(client: httpx.AsyncClient, size: int, tag: str) -> dict[str, Any]:
    """Batches back to back: new alerts, then the same ones again (duplicates)."""
    count = max(4, 8000 // size)
    bodies = [_batch(f"{tag}-{size}-{i}", size) for i in range(count)]
    figures: dict[str, Any] = {}
    for shape in ("create", "dedup"):
        started = time.perf_counter()
        took = [await _post(client, "/alerts", body) for body in bodies]
        elapsed = time.perf_counter() - started
        figures[shape] = {
            "alerts_per_s": round(count * size / elapsed),
            "batch_p50_ms": round(statistics.median(took) * 1000, 1),
            "batches": count,
        }
    return figures


async def _loaded(client: httpx.AsyncClient, size: int, tag: str) -> dict[str, Any]:
    """Single submissions while another client sends batches of `size` (new alerts)."""
    stop = asyncio.Event()
    batch_times: list[float] = []

    async def batches() -> None:
        i = 0
        deadline = time.perf_counter() + LOADED_SECONDS
        while time.perf_counter() < deadline:
            batch_times.append(await _post(client, "/alerts", _batch(f"{tag}-load{size}-{i}", size)))
            i += 1
        stop.set()

    loader = asyncio.create_task(batches())
    await asyncio.sleep(0.05)  # the first batch is under way
    samples = await _singles(client, f"{tag}-single-{size}", until=stop)
    await loader
    return {"single": _percentiles(samples), "batches": len(batch_times), "batch": _percentiles(batch_times)}


async def _alertmanager(client: httpx.AsyncClient) -> dict[str, Any]:
    rounds: dict[str, list[float]] = {"firing_new": [], "firing_again": [], "resolved": []}
    for round_ in range(AM_ROUNDS):
        firing, resolved = _notification(round_, "firing"), _notification(round_, "resolved")
        rounds["firing_new"].append(await _post(client, "/integrations/alertmanager", firing))
        rounds["firing_again"].append(await _post(client, "/integrations/alertmanager", firing))
        rounds["resolved"].append(await _post(client, "/integrations/alertmanager", resolved))
    return {name: round(statistics.median(took) * 1000) for name, took in rounds.items()}


async def _analyze(database_url: str) -> None:
    """What autovacuum does to a live table: fresh statistics. The bench's
    tables grow from nothing in seconds, faster than autovacuum follows, and
    with the statistics of an empty table PostgreSQL plans a batch's read of
    its stored alerts as a scan of the team's alerts."""
    if database_url.startswith("postgresql"):
        connection = await asyncpg.connect(plain_dsn(database_url))
        try:
            await connection.execute("ANALYZE alerts, alert_events, notifications")
        finally:
            await connection.close()


async def _measure(url: str, database_url: str) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        figures: dict[str, Any] = {"alone": _percentiles(await _alone(client))}
        for size in SIZES:
            await _analyze(database_url)
            figures[f"batches_of_{size}"] = await _throughput(client, size, "tp")
        for size in SIZES:
            await _analyze(database_url)
            figures[f"singles_during_batches_of_{size}"] = await _loaded(client, size, "ld")
        await _analyze(database_url)
        figures["alertmanager_1000_ms"] = await _alertmanager(client)
        return figures


async def _quiet(url: str, database_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=8)) as client:
        await _analyze(database_url)
        return await _loaded(client, 1000, "quiet")


def _report(database: str, figures: dict[str, Any]) -> None:
    alone = figures["alone"]
    print(
        f"batches  {database:<10} single submission alone        p50 {alone['p50_ms']:7.2f} ms  p99 {alone['p99_ms']:7.2f} ms"
    )
    floor = figures.get("pgbench_upserts_per_s")
    if floor:
        print(f"batches  {database:<10} floor: pgbench upsert {floor:,.0f} tps")
    for size in SIZES:
        tp = figures[f"batches_of_{size}"]
        ratios = (
            f"  = {tp['create']['ratio_to_floor']:.2f} / {tp['dedup']['ratio_to_floor']:.2f} of the floor"
            if floor
            else ""
        )
        print(
            f"batches  {database:<10} batches of {size:>5}: create {tp['create']['alerts_per_s']:>7,} alerts/s "
            f"({tp['create']['batch_p50_ms']:7.1f} ms each)  dedup {tp['dedup']['alerts_per_s']:>7,} alerts/s "
            f"({tp['dedup']['batch_p50_ms']:7.1f} ms each){ratios}"
        )
    for size in SIZES:
        loaded = figures[f"singles_during_batches_of_{size}"]
        single, batch = loaded["single"], loaded["batch"]
        print(
            f"batches  {database:<10} single during batches of {size:>5}: p50 {single['p50_ms']:7.2f} ms  "
            f"p99 {single['p99_ms']:7.2f} ms  (n {single['n']}; the batches took p50 {batch['p50_ms']:.1f} ms)"
        )
    quiet = figures["singles_during_batches_of_1000_notifications_off"]
    print(
        f"batches  {database:<10} the same, notifications off:      p50 {quiet['single']['p50_ms']:7.2f} ms  "
        f"p99 {quiet['single']['p99_ms']:7.2f} ms  (n {quiet['single']['n']}; the batches took p50 "
        f"{quiet['batch']['p50_ms']:.1f} ms)"
    )
    am = figures["alertmanager_1000_ms"]
    print(
        f"batches  {database:<10} Alertmanager, 1,000 alerts in one POST: firing {am['firing_new']} ms, "
        f"again {am['firing_again']} ms, resolved {am['resolved']} ms"
    )


def _floor(database_url: str) -> float:
    """Single-statement upserts per second on this database (bench/floor.sql),
    measured just before the service starts: the machine's load at the time
    weighs on both."""
    asyncio.run(ingest_bench.prepare_floor(database_url))
    return ingest_bench.pgbench(database_url)


def main(postgres_url: str, workers: int) -> dict[str, Any]:
    results: dict[str, Any] = {"workers": workers}
    with tempfile.TemporaryDirectory(prefix="alerts-bench-sqlite-") as directory:
        databases = {"sqlite": fresh_sqlite(Path(directory)), "postgresql": fresh_database(postgres_url)}
        for name, url in databases.items():
            floor = _floor(url) if name == "postgresql" else None
            with running_service(url, workers=workers, max_body_bytes=MAX_BODY) as service:
                figures = asyncio.run(_measure(service.url, url))
            if floor:
                figures["pgbench_upserts_per_s"] = floor
                for size in SIZES:
                    for shape in figures[f"batches_of_{size}"].values():
                        shape["ratio_to_floor"] = round(shape["alerts_per_s"] / floor, 3)
            # The same, with notifications off: without the delivery of each
            # batch's notices (on SQLite, many small write transactions).
            with running_service(url, workers=workers, max_body_bytes=MAX_BODY, enabled="false") as service:
                figures["singles_during_batches_of_1000_notifications_off"] = asyncio.run(
                    _quiet(service.url, url)
                )
            _report(name, figures)
            results[name] = figures
    write_result("batches", results)
    return results
