"""Filters whose SQL differs between the databases, written once here.

`labels_match`: every given label has the given value. On PostgreSQL it is
JSONB containment (`labels @> '{"env": "prod"}'`), which the GIN index of
migration 0005 serves; on SQLite, one `json_each` probe per label.

`text_contains`: any of the columns holds the text, ignoring case. It is
ILIKE on PostgreSQL (served by the trigram indexes of migration 0006) and
`lower(column) LIKE lower(text)` on SQLite, whose `lower` the engine
replaces with Python's so that both fold non-ASCII letters alike.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Boolean, ColumnElement, bindparam, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import String


class LabelsMatch(ColumnElement[bool]):
    inherit_cache = False
    type = Boolean()

    def __init__(self, column: ColumnClause[Any], wanted: dict[str, str]) -> None:
        self.column = column
        self.wanted = dict(sorted(wanted.items()))


def labels_match(column: Any, wanted: dict[str, str]) -> ColumnElement[bool]:
    return LabelsMatch(column, wanted)


@compiles(LabelsMatch, "postgresql")
def _containment(element: LabelsMatch, compiler: SQLCompiler, **kw: Any) -> str:
    wanted = bindparam(None, json.dumps(element.wanted), type_=String())
    return f"({compiler.process(element.column, **kw)} @> CAST({compiler.process(wanted, **kw)} AS jsonb))"


@compiles(LabelsMatch)
def _json_each(element: LabelsMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    probes = []
    for key, value in element.wanted.items():
        k = compiler.process(bindparam(None, key, type_=String()), **kw)
        v = compiler.process(bindparam(None, value, type_=String()), **kw)
        probes.append(f"EXISTS (SELECT 1 FROM json_each({column}) WHERE key = {k} AND value = {v})")
    return "(" + " AND ".join(probes) + ")" if probes else "1 = 1"


LIKE_ESCAPE = "\\"


def text_contains(columns: list[Any], text: str) -> ColumnElement[bool]:
    """`%` and `_` in the text are themselves, not wildcards."""
    escaped = (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return or_(*(column.ilike(f"%{escaped}%", escape=LIKE_ESCAPE) for column in columns))
