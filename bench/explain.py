"""The plan of the ingest statement for a batch of 16 submissions (8 duplicates
of active alerts, 8 new alerts), EXPLAIN ANALYZE in a transaction that is
rolled back, planned as the service plans it (a generic plan). Run it on a database seeded by bench/seed.py:

    python -m bench.explain postgresql+asyncpg://postgres@127.0.0.1:5432/alerts_bench
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import asyncpg

from app.db import pg_ingest
from app.settings import load_settings
from bench.common import plain_dsn

BATCH = 16


async def explain(url: str) -> str:
    settings = load_settings(database_url=url)
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        active = await conn.fetch(
            "SELECT fingerprint, source FROM alerts WHERE status = 'open' AND deduplicated LIMIT $1",
            BATCH // 2,
        )
        now = datetime.now(UTC)
        identities = [(row["fingerprint"], row["source"]) for row in active]
        identities += [(f"explain-new-{n}", f"new-{n}") for n in range(BATCH - len(identities))]
        batch = [
            pg_ingest.Pending(
                fingerprint=fingerprint,
                now=now,
                alert_type="explain",
                severity="low",
                message="explain",
                source=source,
                labels={},
                details={},
                channels=["console"],
                next_escalation_at=None,
            )
            for fingerprint, source in sorted(identities)
        ]
        # The plan the service runs: its pool plans once (generic plans).
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        async with conn.transaction():
            plan = await conn.fetch(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + pg_ingest.SQL,
                *pg_ingest.arguments(batch, settings=settings),
            )
            raise _Rollback(plan)
    except _Rollback as done:
        return "\n".join(row[0] for row in done.plan)
    finally:
        await conn.close()


class _Rollback(Exception):
    def __init__(self, plan: list[asyncpg.Record]) -> None:
        self.plan = plan


if __name__ == "__main__":
    print(asyncio.run(explain(sys.argv[1])))
