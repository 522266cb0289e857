"""The plans of the ingest statement for a batch of 16 submissions (8
duplicates of active alerts, 8 new alerts) and of the delivery claim, as the
service runs them: generic plans of prepared statements, captured with
auto_explain (EXPLAIN would plan them for the values given), in a
transaction that is rolled back. Run it on a database seeded by bench/seed.py:

    python -m bench.explain postgresql+asyncpg://postgres@127.0.0.1:5432/alerts_bench
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from datetime import UTC, datetime, timedelta

import asyncpg

from app.db import pg_delivery, pg_ingest
from app.schemas import AlertCreate
from app.services.decisions import plan
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
            dataclasses.replace(
                plan(
                    AlertCreate(alert_type="explain", severity="low", message="explain", source=source),
                    team="default",
                    settings=settings,
                    now=now,
                ),
                fingerprint=fingerprint,
            )
            for fingerprint, source in sorted(identities)
        ]
        plans: list[str] = []
        conn.add_log_listener(lambda _, message: plans.append(message.message))
        await conn.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
            " SET auto_explain.log_analyze = on; SET auto_explain.log_timing = off;"
            " SET auto_explain.log_format = text; SET client_min_messages = log;"
            " SET plan_cache_mode = force_generic_plan"  # as the service's pool does
        )
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.fetch(pg_ingest.statement(batch[0].decisions), *pg_ingest.arguments(batch))
            await conn.fetch(pg_delivery.CLAIM, now, 32, now + timedelta(seconds=60))
        finally:
            await transaction.rollback()
        await asyncio.sleep(0.1)  # the last log message
        ours = [
            m
            for m in plans
            if any(
                sql.strip()[:40] in m for sql in (pg_ingest.statement(batch[0].decisions), pg_delivery.CLAIM)
            )
        ]
        return "\n\n".join(_plan_only(message) for message in ours)
    finally:
        await conn.close()


def _plan_only(message: str) -> str:
    """auto_explain's message without its duration, query text and costs."""
    lines = message.splitlines()
    start = next(i for i, line in enumerate(lines) if line and not line[0].isspace() and "(cost=" in line)
    return "\n".join(re.sub(r"  \(cost=[^)]*\)", "", line) for line in lines[start:])


if __name__ == "__main__":
    print(asyncio.run(explain(sys.argv[1])))
