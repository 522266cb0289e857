"""Signed requests already taken, so that a replay is refused by every
replica: INSERT .. ON CONFLICT DO NOTHING tells the first sighting of a
signature from a repeat in one statement, whichever process sees it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import SeenRequest


async def first_sighting(
    session: AsyncSession, signature: str, *, now: datetime, forget_before: datetime
) -> bool:
    """Record the signature; False when it was seen already. Signatures seen
    before `forget_before` (too old to be accepted again) are dropped."""
    await session.execute(delete(SeenRequest).where(SeenRequest.seen_at < forget_before))
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(SeenRequest)
        .values(signature=signature, seen_at=now)
        .on_conflict_do_nothing(index_elements=["signature"])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
