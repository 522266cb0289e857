"""Rows written with one executemany per statement, encoded beforehand.

A batch (services/batch.py) must hold SQLite's write lock, or PostgreSQL's
row locks, as briefly as it can. Executing a Core statement with a list of
dicts turns every value into what the driver takes (UUIDs, JSON text, UTC
datetimes) inside the call, which for 1,000 alerts cost as much Python
time as the database took to write them (measured: about 38 ms of 75). So
the rows are encoded here, with the dialect's own bind processors (the very
values SQLAlchemy would send), before the transaction begins; inside it
only `exec_driver_sql` runs, one executemany per statement.

Both databases take the same statements; the dialect supplies the SQL text
and the parameter style ($1 on asyncpg, ? on SQLite).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    keys: tuple[str, ...]  # the row keys, in the statement's parameter order
    processors: tuple[Processor, ...]

    def encode(self, rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return [self.encode_one(row) for row in rows]

    def encode_one(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            row[key] if process is None else process(row[key])
            for key, process in zip(self.keys, self.processors, strict=True)
        )


@dataclass(frozen=True, slots=True)
class Encoded:
    """A statement with its rows, ready to send."""

    statement: Statement
    rows: list[tuple[Any, ...]]


def dialect_of(sessionmaker: async_sessionmaker[AsyncSession]) -> Dialect:
    bind = sessionmaker.kw["bind"]
    return bind.dialect  # type: ignore[no-any-return]


def _statement(compiled: Any, types: Mapping[str, Any], dialect: Dialect) -> Statement:
    keys = tuple(compiled.positiontup)
    return Statement(
        sql=compiled.string,
        keys=keys,
        processors=tuple(types[key]._cached_bind_processor(dialect) for key in keys),
    )


@functools.lru_cache(maxsize=64)
def inserting(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> Statement:
    """INSERT INTO table (columns) VALUES (...)."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    return _statement(compiled, {name: table.c[name].type for name in columns}, dialect)


@functools.lru_cache(maxsize=64)
def inserting_arrays(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> Statement:
    """INSERT INTO table (columns) SELECT * FROM unnest(one array per column):
    PostgreSQL only. Send it with `as_arrays`: however many rows, one
    statement, executed once (an executemany runs the statement per row)."""
    arrays = ", ".join(
        f"${n}::{table.c[name].type.compile(dialect=dialect)}[]" for n, name in enumerate(columns, 1)
    )
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    types = {name: table.c[name].type for name in columns}
    return Statement(
        sql=sql, keys=columns, processors=tuple(types[key]._cached_bind_processor(dialect) for key in columns)
    )


def as_arrays(rows: list[tuple[Any, ...]], width: int) -> tuple[list[Any], ...]:
    """Encoded rows as one list per column, the parameters of `inserting_arrays`."""
    return tuple([row[i] for row in rows] for i in range(width))


KEY = "key_"  # the bound name of the primary key in an update: not a column's name


@functools.lru_cache(maxsize=256)
def updating(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> Statement:
    """UPDATE table SET columns WHERE id = the row's `key_`."""
    compiled = (
        update(table)
        .where(table.c.id == bindparam(KEY, type_=table.c.id.type))
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        .compile(dialect=dialect)
    )
    types = {name: table.c[name].type for name in columns} | {KEY: table.c.id.type}
    return _statement(compiled, types, dialect)


async def execute(session: AsyncSession, work: Sequence[Encoded]) -> None:
    """Send each statement with its rows (executemany), in order."""
    connection = await session.connection()
    for encoded in work:
        if encoded.rows:
            await connection.exec_driver_sql(encoded.statement.sql, encoded.rows)
