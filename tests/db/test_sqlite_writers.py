"""SQLite's writers within one process take turns, first come first served,
on a lock taken before BEGIN IMMEDIATE (db/engine.py), instead of sleeping in
SQLite's busy handler and losing to whoever comes meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import engine as engine_module
from app.db.engine import READ_ONLY, create_engine
from app.db.outage import is_database_outage


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS writer_turns (n INTEGER)"))
        await conn.execute(text("DELETE FROM writer_turns"))
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE writer_turns"))
    await engine.dispose()


async def _write(engine: AsyncEngine, n: int, started: list[int]) -> None:
    async with engine.begin() as conn:
        started.append(n)  # BEGIN IMMEDIATE has run: this writer holds the lock
        await conn.execute(text("INSERT INTO writer_turns VALUES (:n)"), {"n": n})
        await asyncio.sleep(0.01)


async def test_writers_wait_in_turn_and_none_fails(engine: AsyncEngine) -> None:
    started: list[int] = []
    async with engine.begin() as holder:
        await holder.execute(text("INSERT INTO writer_turns VALUES (0)"))
        waiting = []
        for n in range(1, 9):
            waiting.append(asyncio.create_task(_write(engine, n, started)))
            await asyncio.sleep(0.01)  # each asks in this order
        await asyncio.sleep(0.2)
        assert started == [], "a writer began while another held the lock"
    await asyncio.gather(*waiting)
    assert started == list(range(1, 9))  # first come, first served
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT n FROM writer_turns ORDER BY rowid"))).scalars().all()
    assert rows == list(range(9))


async def test_readers_do_not_wait_for_the_writer(engine: AsyncEngine) -> None:
    async with engine.begin() as writer:
        await writer.execute(text("INSERT INTO writer_turns VALUES (1)"))
        async with engine.connect() as reader:
            await reader.execution_options(**{READ_ONLY: True})
            count = await asyncio.wait_for(
                reader.scalar(text("SELECT count(*) FROM writer_turns")), timeout=2
            )
        assert count == 0  # the writer's row is not committed yet


async def test_a_connection_does_not_wait_for_itself(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for n in range(3):
            async with conn.begin():
                await asyncio.wait_for(
                    conn.execute(text("INSERT INTO writer_turns VALUES (:n)"), {"n": n}), 2
                )
    started: list[int] = []
    await asyncio.wait_for(_write(engine, 9, started), 2)  # the lock was given back
    assert started == [9]


async def test_a_writer_that_waits_past_the_busy_timeout_is_an_outage(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.2)
    async with engine.begin() as holder:
        await holder.execute(text("INSERT INTO writer_turns VALUES (1)"))
        with pytest.raises(Exception) as raised:
            await _write(engine, 2, [])
    assert is_database_outage(raised.value), repr(raised.value)
    started: list[int] = []
    await asyncio.wait_for(_write(engine, 3, started), 2)  # nothing was left holding the lock
    assert started == [3]


async def test_a_failed_transaction_gives_the_lock_back(engine: AsyncEngine) -> None:
    with pytest.raises(Exception, match="no such table"):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
    started: list[int] = []
    await asyncio.wait_for(_write(engine, 1, started), 2)
    assert started == [1]
