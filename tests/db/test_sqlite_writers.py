"""SQLite's writers within one process take turns, first come first served,
on a lock taken before BEGIN IMMEDIATE (db/engine.py), instead of sleeping in
SQLite's busy handler and losing to whoever comes meanwhile; a deferrable
writer (the delivery's) lets those waiting go first, and the one-call writes
asked together share a transaction (db/sqlite_calls.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import engine as engine_module
from app.db import sqlite_calls
from app.db.engine import DEFERRABLE, READ_ONLY, create_engine
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


async def _deferrable_write(engine: AsyncEngine, name: str, started: list[str]) -> None:
    async with engine.connect() as conn:
        await conn.execution_options(**{DEFERRABLE: True})
        async with conn.begin():
            started.append(name)
            await conn.execute(text("INSERT INTO writer_turns VALUES (-1)"))


async def test_a_deferrable_writer_lets_the_waiting_writers_go_first(engine: AsyncEngine) -> None:
    started: list[str] = []

    async def write(name: str) -> None:
        async with engine.begin() as conn:
            started.append(name)
            await conn.execute(text("INSERT INTO writer_turns VALUES (1)"))
            await asyncio.sleep(0.01)

    async with engine.begin() as holder:
        await holder.execute(text("INSERT INTO writer_turns VALUES (0)"))
        tasks = [asyncio.create_task(write("first"))]
        await asyncio.sleep(0.1)  # under way: its connection opened, in the queue
        tasks.append(asyncio.create_task(_deferrable_write(engine, "delivery", started)))
        await asyncio.sleep(0.1)  # under way: its connection opened, in the queue
        tasks.append(asyncio.create_task(write("second")))  # came after it, while it deferred
        await asyncio.sleep(0.1)
        assert started == []
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert started == ["first", "second", "delivery"]


async def test_a_deferrable_writer_defers_for_a_while_only(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module.WriterQueue, "DEFER_SECONDS", 0.1)
    started: list[str] = []

    async def write(name: str) -> None:
        async with engine.begin() as conn:
            started.append(name)
            await conn.execute(text("INSERT INTO writer_turns VALUES (1)"))

    async with engine.begin() as holder:
        await holder.execute(text("INSERT INTO writer_turns VALUES (0)"))
        # A writer waits all along (for the holder): the deferrable one stops
        # deferring after DEFER_SECONDS and queues, ahead of those after it.
        tasks = [asyncio.create_task(write("waiting"))]
        await asyncio.sleep(0.01)
        tasks.append(asyncio.create_task(_deferrable_write(engine, "delivery", started)))
        await asyncio.sleep(0.3)
        tasks.append(asyncio.create_task(write("later")))
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert started == ["waiting", "delivery", "later"]


async def test_writes_asked_together_share_one_transaction(engine: AsyncEngine) -> None:
    calls = sqlite_calls.of(engine)

    def insert(n: int) -> Callable[[Connection], object]:
        def work(connection: Connection) -> object:
            connection.execute(text("INSERT INTO writer_turns VALUES (:n)"), {"n": n})
            return connection.get_transaction()

        return work

    alone = await calls.write(insert(0))
    async with engine.begin() as holder:  # the next writes wait for their turn meanwhile
        await holder.execute(text("INSERT INTO writer_turns VALUES (1)"))
        together = [asyncio.create_task(calls.write(insert(n))) for n in (2, 3, 4)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in together)
    first, *rest = await asyncio.wait_for(asyncio.gather(*together), 5)
    assert all(transaction is first for transaction in rest) and first is not alone
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT n FROM writer_turns ORDER BY rowid"))).scalars().all()
    assert rows == [0, 1, 2, 3, 4]


async def test_a_one_call_write_tries_again_while_another_process_writes(
    engine: AsyncEngine, sqlite_url: str
) -> None:
    calls = sqlite_calls.of(engine)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writing
        other.execute("INSERT INTO writer_turns VALUES (1)")
        write = asyncio.create_task(
            calls.write(lambda c: c.execute(text("INSERT INTO writer_turns VALUES (2)")).rowcount)
        )
        await asyncio.sleep(0.2)
        assert not write.done()
        # A writer of this process meanwhile waits too (for its turn, or in
        # SQLite's busy handler); both write once the other process is done.
        mine = asyncio.create_task(_write(engine, 3, started := []))
        await asyncio.sleep(0.05)
        assert started == [] and not mine.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(write, 5) == 1
        await asyncio.wait_for(mine, 5)
    finally:
        other.close()
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT n FROM writer_turns ORDER BY n"))).scalars().all()
    assert rows == [1, 2, 3]
