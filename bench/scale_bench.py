"""Ten million alerts: the reads and the jobs at the size of a year of alerts.

Seeds BENCH_SCALE_ALERTS alerts (default 10^7), 1 % of them active, in SQL
(generate_series, with the tables' secondary indexes dropped during the
insert and built afterwards, and foreign keys not checked row by row), one
creation event and one sent console notification per alert, an escalation
event for 5 %. The alerts are spread evenly over SPAN_DAYS days, newest
first: ended alerts of the last day are resolved, older ones closed a day
after they were resolved. Then measures against uvicorn with N workers:

- GET /stats, GET /channels, and GET /alerts (the first page, a deep page
  by cursor near the oldest alerts, the last page, and filtered pages),
  median of RUNS each after a warm-up;
- one escalation tick with DUE alerts due (escalate_due, as the ticker runs it);
- one housekeeping pass that deletes a day of closed alerts (retention
  SPAN_DAYS - 2 days), while one client submits new alerts one at a time:
  the pass's time and the client's slowest submission.

Run on its own:

    python -m bench.scale_bench postgresql+asyncpg://postgres@127.0.0.1:5432/alerts_bench
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import asyncpg
import httpx

from app.db import duration_buckets, ended_sums, notification_sums
from app.db.aggregates import percentiles
from app.db.engine import create_engine, create_sessionmaker
from app.services import housekeeping, stats
from app.services.escalation import escalate_due
from app.services.queries import encode_cursor
from app.settings import load_settings
from bench.common import ROOT, fresh_database, median_ms, plain_dsn, write_result
from bench.seed import EVENTS_SQL
from bench.service import running_service

ALERTS = int(os.environ.get("BENCH_SCALE_ALERTS", "10000000"))
SPAN_DAYS = 365
DUE = 1_000
RUNS = 5
TABLES = ("alerts", "alert_events", "notifications")

# i = 1 is the newest alert; one in a hundred is active (open or
# acknowledged), the first DUE open ones due for escalation.
ALERTS_SQL = """
INSERT INTO alerts (
    id, team, fingerprint, alert_type, severity, message, source, labels, details, channels,
    status, escalation_level, max_escalation_level, occurrences, suppressed_count,
    suppressed_streak, notifications_sent, first_seen_at, last_seen_at, triggered_at,
    acknowledged_at, acknowledged_by, resolved_at, resolved_by, resolution_minutes,
    acknowledge_minutes, closed_at, policy, deduplicated, escalated_at, next_escalation_at)
SELECT
    gen_random_uuid(), 'team_' || (i % 7), md5(i::text), 'type_' || (i % 50),
    CASE WHEN s.due THEN 'high' ELSE (ARRAY['info','low','medium','high','critical'])[1 + (i / 7) % 5] END,
    'generated alert ' || i, 'host-' || (i % 1009),
    jsonb_build_object('env', 'prod', 'shard', (i % 16)::text), '{}'::jsonb, '["console"]'::jsonb,
    s.status, lvl.level, lvl.level, 1 + i % 4, i % 3, 0, 1,
    t.seen, t.seen + (i % 4) * interval '1 minute',
    CASE WHEN s.due THEN $3::timestamptz - interval '31 minutes' ELSE t.seen END,
    CASE WHEN s.status <> 'open' THEN t.seen + m.ack * interval '1 minute' END,
    CASE WHEN s.status <> 'open' THEN 'oncall' END,
    CASE WHEN s.ended THEN t.seen + m.res * interval '1 minute' END,
    CASE WHEN s.ended THEN 'oncall' END,
    CASE WHEN s.ended THEN m.res END,
    CASE WHEN s.status <> 'open' THEN m.ack END,
    CASE WHEN s.status = 'closed' THEN t.seen + m.res * interval '1 minute' + interval '1 day' END,
    'default', true,
    CASE WHEN lvl.level > 1 THEN t.seen + interval '30 minutes' END,
    CASE WHEN s.due THEN $3::timestamptz - interval '1 minute'
         WHEN s.status = 'open' THEN $3::timestamptz + interval '30 minutes' END
FROM generate_series(1, $1::bigint) AS i
CROSS JOIN LATERAL (SELECT $3::timestamptz - (i * $2::float) * interval '1 second' AS seen) AS t
CROSS JOIN LATERAL (SELECT (1 + (i * 7919) % 9000) / 100.0 AS ack,
                           (500 + (i * 104729) % 60000) / 100.0 AS res) AS m
CROSS JOIN LATERAL (SELECT CASE WHEN i % 100 = 0 THEN (i % 200 = 0) ELSE NULL END AS open_) AS a
CROSS JOIN LATERAL (SELECT
    CASE WHEN a.open_ THEN 'open' WHEN NOT a.open_ THEN 'acknowledged'
         WHEN t.seen > $3::timestamptz - interval '1 day' THEN 'resolved' ELSE 'closed' END AS status,
    a.open_ IS NULL AS ended,
    coalesce(a.open_ AND i <= 200 * $4::bigint, false) AS due) AS s
CROSS JOIN LATERAL (SELECT CASE WHEN i % 20 = 1 AND NOT s.due THEN 2 + i % 3 ELSE 1 END AS level) AS lvl
"""

NOTIFICATIONS_SQL = """
INSERT INTO notifications (id, alert_id, channel, reason, level, status, attempts, created_at,
    next_attempt_at, sent_at, duration_ms)
SELECT gen_random_uuid(), id, 'console', 'new', 1, 'sent', 1, first_seen_at, first_seen_at,
       first_seen_at, 0.05 + (abs(hashtext(id::text)) % 1000) / 100.0
FROM alerts
"""

ESCALATION_DUE_SQL = """
INSERT INTO escalation_due (alert_id, due_at)
SELECT id, next_escalation_at FROM alerts WHERE next_escalation_at IS NOT NULL
"""

# Secondary indexes, not those of a constraint (primary keys, unique constraints).
INDEXES_SQL = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = 'public' AND i.tablename = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
"""


def _seconds_apart(count: int) -> float:
    return SPAN_DAYS * 86400 / count


async def seed(dsn: str, count: int, now: datetime) -> dict[str, float]:
    """`count` alerts and their rows; returns the seconds each stage took."""
    conn = await asyncpg.connect(dsn)
    took: dict[str, float] = {}
    try:
        await conn.execute("TRUNCATE notifications, alert_events, alerts CASCADE")
        indexes = await conn.fetch(INDEXES_SQL, list(TABLES))
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        # Foreign keys (and any other trigger) are not checked per row:
        # every row refers to an alert inserted just before.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for stage, sql, args in (
            ("alerts", ALERTS_SQL, (count, _seconds_apart(count), now, DUE)),
            ("events", EVENTS_SQL, ()),
            ("notifications", NOTIFICATIONS_SQL, ()),
        ):
            started = time.perf_counter()
            await conn.execute(sql, *args)
            took[stage] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for row in indexes:
            await conn.execute(row["indexdef"])
        took["indexes"] = round(time.perf_counter() - started, 1)
        await conn.execute("RESET session_replication_role")
        started = time.perf_counter()
        await conn.execute(ESCALATION_DUE_SQL)  # the ticker's queue: triggers were off
        took["escalation_due"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        await rollup_backfill(conn)
        took["rollup"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for table in (*TABLES, "escalation_due"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        took["vacuum"] = round(time.perf_counter() - started, 1)
    finally:
        await conn.close()
    return took


def _migration(filename: str) -> Any:
    path = ROOT / "migrations" / "versions" / filename
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


async def rollup_backfill(conn: asyncpg.Connection) -> None:
    """The sums of ended alerts, the counts of durations and the sums of
    notifications, as migrations 0016, 0018 and 0021 build them: the seed
    wrote its rows with triggers off."""
    for filename, tables in (
        ("0016_ended_alert_sums.py", "ended_alert_sums, ended_alert_totals, ended_alert_deltas"),
        ("0018_duration_buckets.py", "duration_bucket_totals, duration_bucket_deltas"),
        ("0021_notification_sums.py", "notification_sums, notification_totals, notification_deltas"),
    ):
        await conn.execute(f"TRUNCATE {tables}")
        for statement in _migration(filename).backfill_sql("postgresql"):
            await conn.execute(statement)


async def stats_parts(url: str) -> dict[str, float]:
    """Where GET /stats (no filter) spends its time: each of its reads alone."""
    settings = load_settings(database_url=url)
    engine = create_engine(url)
    now = datetime.now(UTC)
    query = stats.StatsQuery()
    took: dict[str, float] = {}

    async def timed(name: str, read: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        result = await read
        took[name] = round((time.perf_counter() - started) * 1000, 1)
        return result

    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            sums = await timed("alert sums", stats._alert_sums(session, query, [], window_start=now))
            for measure, count in (
                ("resolution", sums["resolution_count"]),
                ("acknowledge", sums["ack_count"]),
            ):
                column = duration_buckets.MEASURES[measure]
                await timed(f"{measure} percentiles", stats._percentiles(session, query, [], measure, count))
                # The same read as a whole walk of the index, as before the bucket counts.
                await timed(
                    f"{measure} percentiles walked", percentiles(session, column, [], (0.5, 0.9), count=count)
                )
            await timed("reopened", stats._reopened(session, []))
            await timed("escalations", stats._escalations(session, query))
            await timed("channels", stats._channels(session, query, settings))
    finally:
        await engine.dispose()
    return took


async def stats_pairs(url: str, pairs: int = 3) -> dict[str, Any]:
    """stats.compute in this process, from the sums (as served) and from
    every alert row (the code before the sums: the same statements), in
    alternating pairs, rows first."""
    settings = load_settings(database_url=url)
    engine = create_engine(url)
    samples: dict[str, list[float]] = {"rows": [], "sums": []}
    try:
        sessionmaker = create_sessionmaker(engine)
        for _ in range(pairs + 1):  # the first pair warms the caches
            for way in ("rows", "sums"):
                async with sessionmaker() as session, session.begin():
                    started = time.perf_counter()
                    if way == "rows":
                        with (
                            mock.patch.object(ended_sums, "whole_days", lambda since, until: None),
                            mock.patch.object(stats, "_counted", lambda query: False),
                            mock.patch.object(notification_sums, "whole_days", lambda since, until: None),
                        ):
                            await stats.compute(
                                session, query=stats.StatsQuery(), settings=settings, now=datetime.now(UTC)
                            )
                    else:
                        await stats.compute(
                            session, query=stats.StatsQuery(), settings=settings, now=datetime.now(UTC)
                        )
                    samples[way].append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    rows, sums = (samples[w][1:] for w in ("rows", "sums"))
    return {
        "rows_ms": [round(x * 1000, 1) for x in rows],
        "sums_ms": [round(x * 1000, 1) for x in sums],
        "ratio": round(statistics.median(s / r for r, s in zip(rows, sums, strict=True)), 3),
    }


def _timed(client: httpx.Client, path: str) -> list[float]:
    client.get(path).raise_for_status()  # warm
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return samples


async def _cursors(dsn: str) -> dict[str, str]:
    """A cursor near the oldest alerts (the deep page) and one 50 alerts
    from the end (the last page)."""
    conn = await asyncpg.connect(dsn)
    try:
        total = await conn.fetchval("SELECT count(*) FROM alerts")
        cursors = {}
        for name, offset in (("deep", int(total * 0.9)), ("last", max(total - 51, 0))):
            row = await conn.fetchrow(
                "SELECT id, first_seen_at FROM alerts ORDER BY first_seen_at DESC, id DESC OFFSET $1 LIMIT 1",
                offset,
            )
            cursors[name] = encode_cursor(SimpleNamespace(**row))  # type: ignore[arg-type]
        return cursors
    finally:
        await conn.close()


def reads(url: str, workers: int) -> dict[str, dict[str, Any]]:
    cursors = asyncio.run(_cursors(plain_dsn(url)))
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    pages = {
        "GET /stats": "/stats",
        "GET /stats?team=team_3": "/stats?team=team_3",
        "GET /stats?alert_type=type_7": "/stats?alert_type=type_7",
        "GET /channels": "/channels",
        "GET /alerts (first page)": "/alerts",
        "GET /alerts (deep page, cursor)": f"/alerts?cursor={cursors['deep']}",
        "GET /alerts (last page, cursor)": f"/alerts?cursor={cursors['last']}",
        "GET /alerts?status=open": "/alerts?status=open",
        "GET /alerts?status=resolved&severity=critical": "/alerts?status=resolved&severity=critical",
        "GET /alerts?source=host-7": "/alerts?source=host-7",
        "GET /alerts?alert_type=type_7&status=acknowledged": "/alerts?alert_type=type_7&status=acknowledged",
        "GET /alerts?team=team_3&since=(a week)": f"/alerts?team=team_3&since={week_ago.replace('+', '%2B')}",
    }
    figures: dict[str, dict[str, Any]] = {}
    with (
        running_service(url, workers=workers) as service,
        httpx.Client(base_url=service.url, timeout=120) as client,
    ):
        for name, path in pages.items():
            samples = _timed(client, path)
            figures[name] = {"median_ms": median_ms(samples), "max_ms": round(max(samples) * 1000, 2)}
            print(
                f"scale    {name:<50} median {figures[name]['median_ms']:>8.1f} ms  max {figures[name]['max_ms']:>8.1f} ms"
            )
    return figures


async def tick(url: str) -> dict[str, Any]:
    settings = load_settings(database_url=url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            started = time.perf_counter()
            steps = await escalate_due(session, now=datetime.now(UTC), settings=settings)
            took = time.perf_counter() - started
    finally:
        await engine.dispose()
    if len(steps) != DUE:
        raise SystemExit(f"tick escalated {len(steps)} alerts, expected {DUE}")
    return {"due": DUE, "ms": round(took * 1000, 1)}


class Submitter(threading.Thread):
    """One client submitting new alerts back to back; keeps every latency."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.errors = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                body = {"alert_type": "scale", "severity": "low", "message": "m", "source": f"during-{n}"}
                started = time.perf_counter()
                response = client.post("/alerts", json=body)
                self.samples.append(time.perf_counter() - started)
                self.errors += response.status_code >= 300


async def _housekeeping(url: str) -> tuple[int, float]:
    settings = load_settings(database_url=url, retention_days=SPAN_DAYS - 2)
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        _, deleted = await housekeeping.run(
            create_sessionmaker(engine), settings=settings, now=datetime.now(UTC)
        )
        return deleted, time.perf_counter() - started
    finally:
        await engine.dispose()


def purge(url: str, workers: int) -> dict[str, Any]:
    with running_service(url, workers=workers) as service:
        client = Submitter(service.url)
        client.start()
        time.sleep(3)  # the client's own pace first
        before = len(client.samples)
        deleted, took = asyncio.run(_housekeeping(url))
        during = client.samples[before:]
        time.sleep(1)
        client.stop.set()
        client.join()
    alone = client.samples[:before]
    return {
        "deleted": deleted,
        "seconds": round(took, 2),
        "submissions_during": len(during),
        "submit_median_ms_before": median_ms(alone) if alone else None,
        "submit_median_ms_during": median_ms(during) if during else None,
        "submit_max_ms_during": round(max(during) * 1000, 1) if during else None,
        "submit_errors": client.errors,
    }


def main(url: str, workers: int = 2) -> dict[str, Any]:
    url = fresh_database(url)
    load_before = os.getloadavg()[0]
    now = datetime.now(UTC)
    started = time.perf_counter()
    stages = asyncio.run(seed(plain_dsn(url), ALERTS, now))
    seeded = round(time.perf_counter() - started, 1)
    print(f"scale    seeded {ALERTS:,} alerts in {seeded:.0f} s ({stages})")
    results: dict[str, Any] = {
        "alerts": ALERTS,
        "active": ALERTS // 100,
        "seed_seconds": seeded,
        "seed_stages": stages,
    }
    results["reads"] = reads(url, workers)
    parts = results["stats_parts_ms"] = asyncio.run(stats_parts(url))
    print(f"scale    GET /stats, each read alone: {parts} ms")
    pairs = results["stats_in_process"] = asyncio.run(stats_pairs(url))
    print(
        f"scale    stats.compute from every row {pairs['rows_ms']} ms, from the sums {pairs['sums_ms']} ms "
        f"(alternating; median ratio {pairs['ratio']:.2f})"
    )
    results["escalation_tick"] = asyncio.run(tick(url))
    print(f"scale    escalation tick, {DUE:,} due: {results['escalation_tick']['ms']:.0f} ms")
    hk = purge(url, workers)
    results["housekeeping"] = hk
    print(
        f"scale    housekeeping deleted {hk['deleted']:,} alerts in {hk['seconds']:.1f} s; one client's "
        f"submissions meanwhile: {hk['submissions_during']}, median {hk['submit_median_ms_during']} ms, "
        f"slowest {hk['submit_max_ms_during']} ms (median {hk['submit_median_ms_before']} ms before)"
    )
    results["load_before"] = load_before
    results["load_after"] = os.getloadavg()[0]
    results["workers"] = workers
    print(f"scale    load average (1 min) {load_before:.2f} before, {results['load_after']:.2f} after")
    write_result("scale", results)
    return results


if __name__ == "__main__":
    main(sys.argv[1])
