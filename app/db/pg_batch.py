"""A batch of submissions on PostgreSQL through the ingest statement, in one transaction.

The ingest statement (db/pg_ingest.py, the one group commit sends) takes
each identity at most once: it cannot update a row twice. A batch may
repeat an identity, and its second submission merges into what the first
made. So the batch goes in rounds, all in one transaction on an ingest-pool
connection: the first submission of every identity, then the second of
those repeated, and so on. Each round sees what the rounds before it wrote,
as the submissions sent one by one in order would, and submissions of
different identities never touch each other's alerts, so the rounds answer
what the batch in order answers.

Locks: the first round takes every identity of the batch, in fingerprint
order (the statement's order, which every writer follows); a later round
takes only identities the first already holds, so the rounds add no order
of their own in which two writers could wait on each other.

What the statement declines (a reopen, a silence in force: it returns no
row for the submission and changes nothing for it) cannot be finished here,
as the general batch path (services/batch.py) runs on the ORM's own
connections, not this one. So a batch with anything declined is rolled back
whole and handed to that path (`None`): declines are rare, and the rollback
costs one statement. Submissions without deduplication never come here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from app.db import pg_ingest, pg_pool
from app.db.store import IngestPlan

Row = dict[str, Any]


class _Declined(Exception):
    """The statement declined a submission: the transaction is rolled back."""


def rounds(plans: Sequence[IngestPlan]) -> list[list[int]]:
    """The plans' indexes by round: round n holds the n-th submission of
    each identity (team, fingerprint), in the batch's order."""
    seen: dict[tuple[str, str], int] = {}
    out: list[list[int]] = []
    for index, plan in enumerate(plans):
        identity = (plan.team, plan.fingerprint)
        n = seen.get(identity, 0)
        seen[identity] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(index)
    return out


async def ingest(pool: asyncpg.Pool, plans: Sequence[IngestPlan]) -> list[Row] | None:
    """Each submission's alert row (with `inserted` and `queued`), in order,
    all committed together; or None, nothing written, when the statement
    declined any of them."""
    if not plans:
        return []
    if not all(plan.deduplicate and plan.decisions is plans[0].decisions for plan in plans):
        return None  # one statement text holds one set of decisions; dedup off is the ORM's
    sql = pg_ingest.statement(plans[0].decisions)
    by_round = rounds(plans)

    async def write(connection: asyncpg.Connection) -> list[Row]:
        out: list[Row | None] = [None] * len(plans)
        for indexes in by_round:
            part = [plans[i] for i in indexes]
            found = {
                (row["team"], row["fingerprint"]): dict(row)
                for row in await connection.fetch(sql, *pg_ingest.arguments(part))
            }
            if len(found) < len(part):
                raise _Declined
            for i in indexes:
                out[i] = found[(plans[i].team, plans[i].fingerprint)]
        return [row for row in out if row is not None]

    try:
        return await pg_pool.transaction(pool, write)
    except _Declined:
        return None
