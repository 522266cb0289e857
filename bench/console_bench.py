"""The web console on 10^5 alerts: GET /ui/stats for each range and GET /ui/
(the alert list), one request at a time against uvicorn with N workers, in
open mode (no key, so no sign-in).

Seeds 10^5 alerts in SQL (bench/seed.py), warms each page, then times
REQUESTS requests of each, the pages in turn, and reports the median, p95
and p99. Also reads the plan of every statement the stats page runs,
for each range, as the service runs them (auto_explain, in a transaction
that only reads), and names any that scanned a table instead of reading an
index. Run on its own:

    python -m bench.console_bench postgresql+asyncpg://postgres@127.0.0.1:5432/alerts_bench
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from app.db.engine import create_engine, create_sessionmaker
from app.services import trends
from bench.common import fresh_database, plain_dsn, write_result
from bench.explain import _plan_only
from bench.seed import seed
from bench.service import running_service

ALERTS = 100_000
REQUESTS = 50
WARM = 3
TARGET_MS = 300.0
# (name, path): every range of the stats page, one narrowed to a team (the
# seed's only team: every alert, the most a team filter can cost), the list.
PAGES = (
    *((f"stats {span}", f"/ui/stats?range={span}") for span in trends.SPANS),
    ("stats 30d team", "/ui/stats?range=30d&team=default"),
    ("alert list", "/ui/"),
)
TABLES = ("FROM alerts", "FROM notifications", "FROM alert_events")


def _figures(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
    }


def time_pages(base_url: str) -> dict[str, dict[str, float]]:
    """The pages in turn, one request each per round: whatever else runs on
    the machine weighs on every page alike, so their ratios hold."""
    samples: dict[str, list[float]] = {name: [] for name, _ in PAGES}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for round_ in range(WARM + REQUESTS):
            for name, path in PAGES:
                started = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if round_ >= WARM:
                    samples[name].append(elapsed)
    return {name: _figures(taken) for name, taken in samples.items()}


async def plans(url: str, span: str, team: str | None = None) -> list[str]:
    """The plan of each statement the stats page runs for a range."""
    length, step = trends.SPANS[span]
    window = trends.Window.ending(datetime.now(UTC), span=length, step=step)
    engine = create_engine(url, pool_size=1)
    messages: list[str] = []
    try:
        async with create_sessionmaker(engine)() as session:
            raw = (await (await session.connection()).get_raw_connection()).driver_connection
            raw.add_log_listener(lambda _, message: messages.append(message.message))
            for setting in (
                "LOAD 'auto_explain'",
                "SET LOCAL auto_explain.log_min_duration = 0",
                "SET LOCAL auto_explain.log_analyze = on",
                "SET LOCAL auto_explain.log_timing = off",
                "SET LOCAL client_min_messages = log",
            ):
                await session.execute(text(setting))
            await trends.compute(session, window=window, team=team, channels=["console"])
            await asyncio.sleep(0.1)  # the last log message
            await session.rollback()
    finally:
        await engine.dispose()
    return [_plan_only(m) for m in messages if "plan:" in m and any(t in m for t in TABLES)]


def scans(plan_texts: list[str]) -> list[str]:
    return [line.strip() for plan in plan_texts for line in plan.splitlines() if "Seq Scan" in line]


def main(url: str, workers: int) -> dict[str, Any]:
    fresh_database(url)
    started = time.perf_counter()
    asyncio.run(seed(plain_dsn(url), ALERTS))
    print(f"console  {ALERTS:,} alerts seeded in {time.perf_counter() - started:.1f} s")
    scanned: dict[str, list[str]] = {}
    for span, team in (*((span, None) for span in trends.SPANS), ("30d", "default")):
        name = f"{span} team" if team else span
        found = asyncio.run(plans(url, span, team))
        scanned[name] = scans(found)
        print(
            f"console  plans, stats {name:<8} {len(found)} statements, table scans: {scanned[name] or 'none'}"
        )
    with running_service(url, workers=workers) as service:
        results = time_pages(service.url)
    for name, figures in results.items():
        mark = (
            "" if name == "alert list" or figures["median_ms"] < TARGET_MS else f"  over {TARGET_MS:.0f} ms"
        )
        print(
            f"console  GET {name:<15} median {figures['median_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms  "
            f"p99 {figures['p99_ms']:7.1f} ms  ({REQUESTS} requests){mark}"
        )
    return {
        "alerts": ALERTS,
        "requests": REQUESTS,
        "workers": workers,
        "pages": results,
        "table_scans": scanned,
    }


if __name__ == "__main__":
    write_result("console", main(sys.argv[1], workers=2))
