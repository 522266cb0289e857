"""One escalation tick that pages people: 10^3 schedules (two layers each,
a weekly rotation of three and a weekday office layer, some overrides in
force), 10^3 stored policies (each naming two schedules of its team), and
10^5 active alerts following them, of which 10^3 are due, each with a
policy of its own: the tick reads 10^3 policies and resolves 10^3
schedules, pages one person per alert by email and SMS (2,000 outbox rows)
and records a step per alert. Seeded in SQL (generate_series). Median of 5.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.db.engine import create_engine, create_sessionmaker
from app.services.escalation import escalate_due
from app.settings import load_settings
from bench.common import plain_dsn

SCHEDULES = 1_000
TEAMS = 100
ACTIVE = 100_000
DUE = 1_000
RUNS = 5

USERS = """
INSERT INTO users (id, name, time_zone, contact_methods, created_at, updated_at)
SELECT md5('user-' || i)::uuid, 'user-' || i, 'UTC',
    jsonb_build_array(
        jsonb_build_object('type', 'email', 'address', 'user-' || i || '@example.com'),
        jsonb_build_object('type', 'sms', 'address', '+1555' || lpad(i::text, 7, '0'))),
    now(), now()
FROM generate_series(1, 3 * $1::int) AS i;
"""
MEMBERS = """
INSERT INTO user_teams (user_id, team)
SELECT md5('user-' || i)::uuid, 'team-' || ((i - 1) / 3 % $2::int) FROM generate_series(1, 3 * $1::int) AS i
"""
SCHEDULES_SQL = """
INSERT INTO schedules (id, team, name, time_zone, layers, created_at, updated_at)
SELECT md5('schedule-' || s)::uuid, 'team-' || ((s - 1) % $2::int), 'schedule-' || s, 'Europe/Berlin',
    jsonb_build_array(
        jsonb_build_object('name', 'weekly', 'participants', jsonb_build_array(
                md5('user-' || (3 * s - 2))::uuid, md5('user-' || (3 * s - 1))::uuid, md5('user-' || (3 * s))::uuid),
            'shift_unit', 'weeks', 'shift_length', 1, 'handoff_time', '09:00', 'start_date', '2026-01-01',
            'restrictions', '[]'::jsonb),
        jsonb_build_object('name', 'office', 'participants', jsonb_build_array(md5('user-' || (3 * s))::uuid),
            'shift_unit', 'days', 'shift_length', 1, 'handoff_time', '00:00', 'start_date', '2026-01-01',
            'restrictions', jsonb_build_array(jsonb_build_object(
                'weekdays', jsonb_build_array('mon', 'tue', 'wed', 'thu', 'fri'), 'start', '09:00', 'end', '18:00')))),
    now(), now()
FROM generate_series(1, $1::int) AS s
"""
OVERRIDES = """
INSERT INTO schedule_overrides (id, schedule_id, user_id, starts_at, ends_at, created_by, created_at)
SELECT gen_random_uuid(), md5('schedule-' || s)::uuid, md5('user-' || (3 * s - 1))::uuid,
    now() - interval '1 hour', now() + interval '1 day', 'bench', now()
FROM generate_series(1, $1::int, 10) AS s
"""
# Policy p: step 1 at once to schedule p, step 2 after 5 minutes to another
# schedule of its team and the console; the last step repeats twice.
POLICIES = """
INSERT INTO escalation_policies (id, team, name, steps, repeat_last_step, repeat_every_minutes, created_at, updated_at)
SELECT md5('policy-' || p)::uuid, 'team-' || ((p - 1) % $2::int), 'policy-' || p,
    jsonb_build_array(
        jsonb_build_object('after_minutes', 0, 'notify', jsonb_build_array('schedule:schedule-' || p)),
        jsonb_build_object('after_minutes', 5, 'notify', jsonb_build_array(
            'schedule:schedule-' || ((p - 1 + $2::int) % $1::int + 1), 'console'))),
    2, 10, now(), now()
FROM generate_series(1, $1::int) AS p
"""
ALERTS = """
INSERT INTO alerts (id, team, fingerprint, alert_type, severity, message, source, labels, details, channels,
    status, escalation_level, max_escalation_level, occurrences, suppressed_count, suppressed_streak,
    notifications_sent, first_seen_at, last_seen_at, triggered_at, policy, deduplicated, next_escalation_at,
    escalation_policy_id, escalation_step)
SELECT gen_random_uuid(), 'team-' || (i % $3::int), md5('page' || i), 'bench', 'critical', 'm',
    CASE WHEN i <= $2 THEN 'due-' ELSE 'later-' END || i, '{}'::jsonb, '{}'::jsonb, '["console"]'::jsonb,
    'open', 1, 1, 1, 0, 0, 0, t.at, t.at, t.at, 'default', true,
    CASE WHEN i <= $2 THEN t.at ELSE t.at + interval '5 minutes' END,
    md5('policy-' || (i % $4::int + 1))::uuid, CASE WHEN i <= $2 THEN 0 ELSE 1 END
FROM generate_series(1, $1::int) AS i
CROSS JOIN LATERAL (SELECT now() - interval '1 minute' AS at) AS t
"""
RESET = """
UPDATE alerts SET escalation_level = 1, max_escalation_level = 1, escalated_at = NULL, escalation_step = 0,
    next_escalation_at = triggered_at WHERE source LIKE 'due-%';
DELETE FROM notifications; DELETE FROM alert_events;
"""
SETTINGS: dict[str, Any] = {
    "channels": {
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "from_address": "a@example.net",
            "to": ["t@example.net"],
        },
        "texts": {
            "type": "sms",
            "account_sid": "AC" + "0123456789abcdef" * 2,
            "auth_token": "token",
            "from_number": "+15005550006",
            "to": ["+15559990000"],
        },
    }
}


async def seed(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "TRUNCATE notifications, alert_events, alerts, routes, escalation_policies, schedule_overrides, "
        "schedules, user_teams, users CASCADE"
    )
    await conn.execute(USERS, SCHEDULES)
    await conn.execute(MEMBERS, SCHEDULES, TEAMS)
    await conn.execute(SCHEDULES_SQL, SCHEDULES, TEAMS)
    await conn.execute(OVERRIDES, SCHEDULES)
    await conn.execute(POLICIES, SCHEDULES, TEAMS)
    await conn.execute(ALERTS, ACTIVE, DUE, TEAMS, SCHEDULES)
    await conn.execute("VACUUM ANALYZE")


async def run(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        started = time.perf_counter()
        await seed(conn)
        seeded = time.perf_counter() - started
        settings = load_settings(database_url=url, **SETTINGS)
        engine = create_engine(url)
        sessionmaker = create_sessionmaker(engine)
        samples = []
        try:
            for _ in range(RUNS):
                await conn.execute(RESET)
                started = time.perf_counter()
                async with sessionmaker() as session, session.begin():
                    steps = await escalate_due(session, now=datetime.now(UTC), settings=settings)
                samples.append(time.perf_counter() - started)
                paged = await conn.fetchval("SELECT count(*) FROM notifications WHERE recipient IS NOT NULL")
                if len(steps) != DUE or paged != 2 * DUE:
                    raise SystemExit(
                        f"tick did {len(steps)} steps and {paged} pages, expected {DUE} and {2 * DUE}"
                    )
        finally:
            await engine.dispose()
    finally:
        await conn.close()
    samples.sort()
    return {
        "schedules": SCHEDULES,
        "active": ACTIVE,
        "due": DUE,
        "seed_s": round(seeded, 1),
        "samples_ms": [round(s * 1000, 1) for s in samples],
        "median_ms": round(samples[len(samples) // 2] * 1000, 1),
    }


def main(url: str) -> dict[str, Any]:
    figures = asyncio.run(run(url))
    print(
        f"paging   tick over {ACTIVE:,} active alerts with policies, {DUE:,} due, {SCHEDULES:,} schedules: "
        f"median {figures['median_ms']:.0f} ms (of {RUNS})"
    )
    return figures


if __name__ == "__main__":
    from bench.common import BENCH_URL, fresh_database

    main(fresh_database(BENCH_URL))
