"""A single-valued query parameter given more than once is refused.

FastAPI keeps the last of `?alert_type=a&alert_type=b` and drops the rest
without a word, so a caller's filter could silently be half applied. Every
route gets this check as an application dependency: a parameter declared as
one value (not a list) and repeated answers 422 naming the parameter.
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


def _single_valued(route: APIRoute) -> tuple[str, ...]:
    fields = _query_fields(route.dependant)
    return tuple(dict.fromkeys(f.alias for f in fields if not _is_sequence(f.field_info.annotation)))


async def refuse_repeated_query_params(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    errors = [
        {
            "type": "repeated_query_param",
            "loc": ("query", name),
            "msg": "give this query parameter at most once",
            "input": values,
        }
        for name in _single_valued(route)
        if len(values := request.query_params.getlist(name)) > 1
    ]
    if errors:
        raise RequestValidationError(errors)
