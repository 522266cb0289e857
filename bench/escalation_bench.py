"""One escalation tick over 10^5 active alerts of which 1% are due."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from app.db.engine import create_engine, create_sessionmaker
from app.services.escalation import escalate_due
from app.settings import load_settings
from bench.common import plain_dsn

ACTIVE = 100_000
DUE = 1_000
RUNS = 5

SEED = """
INSERT INTO alerts (id, fingerprint, alert_type, severity, message, source, labels, details, channels,
    status, escalation_level, max_escalation_level, occurrences, suppressed_count, suppressed_streak,
    notifications_sent, first_seen_at, last_seen_at, triggered_at, policy, deduplicated, next_escalation_at)
SELECT gen_random_uuid(), md5('esc' || i), 'bench', 'high', 'm',
    CASE WHEN i <= $2 THEN 'due-' ELSE 'later-' END || i, '{}'::jsonb, '{}'::jsonb, '["console"]'::jsonb,
    'open', 1, 1, 1, 0, 0, 0, t.at, t.at, t.at, 'default', true, t.at + interval '30 minutes'
FROM generate_series(1, $1::int) AS i
CROSS JOIN LATERAL (SELECT CASE WHEN i <= $2 THEN now() - interval '31 minutes' ELSE now() END AS at) AS t
"""
RESET = """
UPDATE alerts SET escalation_level = 1, max_escalation_level = 1, escalated_at = NULL,
    next_escalation_at = triggered_at + interval '30 minutes' WHERE source LIKE 'due-%';
DELETE FROM notifications; DELETE FROM alert_events;
"""


async def run(url: str) -> dict[str, float]:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        await conn.execute(
            "TRUNCATE notifications, alert_events, alerts CASCADE"
        )  # heartbeats point at alerts
        await conn.execute(SEED, ACTIVE, DUE)
        await conn.execute("VACUUM ANALYZE alerts")
        settings = load_settings(database_url=url)
        engine = create_engine(url)
        sessionmaker = create_sessionmaker(engine)
        samples = []
        try:
            for _ in range(RUNS):
                await conn.execute(RESET)
                started = time.perf_counter()
                async with sessionmaker() as session, session.begin():
                    steps = await escalate_due(session, now=_now(), settings=settings)
                samples.append(time.perf_counter() - started)
                if len(steps) != DUE:
                    raise SystemExit(f"tick escalated {len(steps)} alerts, expected {DUE}")
        finally:
            await engine.dispose()
    finally:
        await conn.close()
    samples.sort()
    return {"active": ACTIVE, "due": DUE, "median_ms": round(samples[len(samples) // 2] * 1000, 1)}


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def main(url: str) -> dict[str, float]:
    figures = asyncio.run(run(url))
    print(
        f"escalate tick over {ACTIVE:,} active alerts, {DUE:,} due: median {figures['median_ms']:.0f} ms (of {RUNS})"
    )
    return figures
