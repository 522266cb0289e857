"""The store on PostgreSQL: the hot paths as one statement each on asyncpg.

Submissions go through group commit (db/group_commit.py) into the ingest
statement (db/pg_ingest.py), and a batch of them through the same statement
in one transaction (db/pg_batch.py); a claim and a batch of sent results are one
statement each (db/pg_delivery.py). What those statements leave to the
general path (a reopen, a silence in force, deduplication off, failed
attempts, which are rare, claims under flood control) goes to the ORM
store (a batch: to the general batch path, services/batch.py), on the same database, with the same plan: the rules are not
replayed differently there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from app.db import pg_batch, pg_delivery, pg_ingest
from app.db.claims import claimed_row
from app.db.flood import DIGEST
from app.db.group_commit import GroupCommit
from app.db.orm_store import OrmStore
from app.db.store import ClaimedRow, Failed, Ingested, IngestPlan, Quotas, Released, Sent

MAX_BATCH = 64  # submissions per ingest statement


class PgStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        general: OrmStore,
        *,
        in_flight: int,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self.pool = pool
        self.general = general
        self.writer: GroupCommit[dict[str, Any] | None] = GroupCommit(
            self._upsert_many,
            in_flight=in_flight,
            max_batch=MAX_BATCH,
            one_per_identity=True,
            on_batch=on_batch,
        )

    async def _upsert_many(self, plans: list[IngestPlan]) -> list[dict[str, Any] | None]:
        """Each submission's alert row, or None where the ORM store must handle it."""
        rows = await pg_ingest.upsert_many(self.pool, plans)
        return [rows.get((plan.team, plan.fingerprint)) for plan in plans]

    async def ingest(self, plan: IngestPlan) -> Ingested:
        if plan.deduplicate:
            row = await self.writer.write(plan)
            if row is not None:
                return _ingested(row)
        return await self.general.ingest(plan)

    async def ingest_batch(self, plans: Sequence[IngestPlan]) -> list[Ingested] | None:
        """Deduplicating submissions of one batch, in one transaction, one
        answer each in order; None, nothing written, where the statement
        declined any of them (the general batch path's to write)."""
        rows = await pg_batch.ingest(self.pool, plans)
        return None if rows is None else [_ingested(row) for row in rows]

    async def claim(
        self,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        quotas: Quotas | None = None,
        in_order: Sequence[str] = (),
    ) -> list[ClaimedRow]:
        if quotas is not None:  # flood control apportions through the general path
            return await self.general.claim(
                now=now, limit=limit, lease_seconds=lease_seconds, quotas=quotas, in_order=in_order
            )
        lease_until, rows = await pg_delivery.claim(
            self.pool, now=now, limit=limit, lease_seconds=lease_seconds, in_order=in_order
        )
        digests = [row["id"] for row, _ in rows if row["reason"] == DIGEST]
        folded = await self.general.folded(digests) if digests else {}
        return [
            claimed_row(
                row,
                lease_until,
                alert,
                folded.get(row["id"], ()),
                row["reference"] if row["channel"] in in_order else None,
            )
            for row, alert in rows
        ]

    async def record(
        self,
        *,
        sent: Sequence[Sent],
        failed: Sequence[Failed],
        now: datetime,
        released: Sequence[Released] = (),
    ) -> dict[uuid.UUID, str | None]:
        marked = await pg_delivery.mark_sent(
            self.pool,
            [(item.row.id, item.row.lease_until, item.duration_ms, item.reference) for item in sent],
            now=now,
        )
        statuses: dict[uuid.UUID, str | None] = {
            item.row.id: "sent" if item.row.id in marked else None for item in sent
        }
        if failed or released:
            statuses |= await self.general.record(sent=(), failed=failed, now=now, released=released)
        return statuses

    async def close(self) -> None:
        await self.writer.close()
        await self.pool.close()


def _ingested(row: dict[str, Any]) -> Ingested:
    inserted = row.pop("inserted")
    queued = int(row.pop("queued"))
    return Ingested(row, "created" if inserted else "duplicate", row["last_notify_reason"], queued, [])
