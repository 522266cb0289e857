"""The test's own PostgreSQL sessions beside the service's: to watch the
service's sessions, end them, and hold the locks they wait for (the outage
and retry tests). Fixtures `admin`, `holder` and `retries` live in
tests/conftest.py."""

from __future__ import annotations

import asyncpg

from tests.helpers import wait_for

SERVICE_APPLICATION = "alert-service"  # the ORM engine's sessions (app/db/engine.py)
RETRIED = "running the transaction again"  # what app/db/transaction.py logs when it does


async def lock_waiter(admin: asyncpg.Connection, *, not_pid: int | None = None) -> int:
    """The service's session that waits for a lock the test holds."""
    found: list[int] = []

    async def waiting() -> bool:
        pid = await admin.fetchval(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = $1
              AND wait_event_type = 'Lock' AND pid IS DISTINCT FROM $2
            """,
            SERVICE_APPLICATION,
            not_pid,
        )
        found[:] = [pid] if pid is not None else []
        return bool(found)

    await wait_for(waiting)
    return found[0]
