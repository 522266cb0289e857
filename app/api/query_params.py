"""Query parameters the route does not declare, or a single-valued one given
more than once, are refused.

FastAPI ignores unknown parameters and keeps the last of
`?alert_type=a&alert_type=b`, both without a word, so a caller's filter
could silently not apply at all (`?labels.env=prod`) or apply by half. Every
route gets this check as an application dependency: each unknown parameter,
and each parameter declared as one value (not a list) and repeated, answers
422 naming the parameter.

So does a NUL character in any parameter, on every route: PostgreSQL stores
and compares no NUL in text, so a filter with one (`?label=env=a%00`) could
only fail inside the database, as a 500.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

_SEQUENCES = (list, set, frozenset, tuple, Sequence)


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return annotation in _SEQUENCES or origin in _SEQUENCES


def _query_fields(dependant: Dependant) -> Iterator[Any]:  # ModelField
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


# id of a route -> (the route, its declared and single-valued parameters);
# holding the route keeps its id from being reused (routes are not hashable).
_DECLARED: dict[int, tuple[APIRoute, frozenset[str], tuple[str, ...]]] = {}


def _declared(route: APIRoute) -> tuple[frozenset[str], tuple[str, ...]]:
    """Every query parameter the route declares, and the single-valued ones."""
    cached = _DECLARED.get(id(route))
    if cached is None or cached[0] is not route:
        fields = list(_query_fields(route.dependant))
        single = tuple(dict.fromkeys(f.alias for f in fields if not _is_sequence(f.field_info.annotation)))
        cached = _DECLARED[id(route)] = (route, frozenset(f.alias for f in fields), single)
    return cached[1], cached[2]


async def refuse_repeated_query_params(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    nul = [
        {
            "type": "nul_character",
            "loc": ("query", name.replace("\x00", "\\x00")[:100]),
            "msg": "NUL characters are not allowed",
            "input": value,
        }
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    ]
    if nul:
        raise RequestValidationError(nul[:1])
    if getattr(route, "reads_own_query", False):
        return  # a page that parses its own query string (app/ui/routing.py)
    declared, single = _declared(route)
    known = ", ".join(sorted(declared)) or "none"
    errors = [
        {
            "type": "unknown_query_param",
            "loc": ("query", name[:100]),
            "msg": f"unknown query parameter; this operation takes: {known}",
            "input": request.query_params.getlist(name),
        }
        for name in dict.fromkeys(request.query_params.keys())
        if name not in declared
    ]
    errors += [
        {
            "type": "repeated_query_param",
            "loc": ("query", name),
            "msg": "give this query parameter at most once",
            "input": values,
        }
        for name in single
        if len(values := request.query_params.getlist(name)) > 1
    ]
    if errors:
        raise RequestValidationError(errors)
