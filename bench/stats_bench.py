"""GET /stats time on 10^4, 10^5 and 10^6 alerts on PostgreSQL.

Seeds each size in SQL (bench/seed.py), then asks the real app for /stats
through its ASGI interface five times and reports the median.
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx

from app.main import create_app
from app.settings import load_settings
from bench.common import fresh_database, median_ms, plain_dsn, write_result
from bench.seed import seed

SIZES = (10_000, 100_000, 1_000_000)
RUNS = 5


async def time_stats(url: str) -> list[float]:
    app = create_app(load_settings(database_url=url, enable_escalation=False, log_level="warning"))
    samples = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await client.get("/stats")  # warm the pool and the caches
            for _ in range(RUNS):
                started = time.perf_counter()
                response = await client.get("/stats")
                samples.append(time.perf_counter() - started)
                response.raise_for_status()
    return samples


def main(sizes: tuple[int, ...] = SIZES, url: str | None = None) -> dict[str, float]:
    url = fresh_database(url) if url else fresh_database()
    figures: dict[str, float] = {}
    for size in sizes:
        started = time.perf_counter()
        asyncio.run(seed(plain_dsn(url), size))
        seeded = time.perf_counter() - started
        samples = asyncio.run(time_stats(url))
        figures[str(size)] = median_ms(samples)
        print(
            f"stats  alerts={size:>9,}  GET /stats median {figures[str(size)]:>8.1f} ms  (of {RUNS}; seeded in {seeded:.1f} s)"
        )
    write_result("stats", {"median_ms_by_alerts": figures, "runs": RUNS})
    return figures


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
