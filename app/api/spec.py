"""The published OpenAPI spec, where FastAPI's differs from what a request can carry.

FastAPI writes an optional parameter (`q: str | None = None`) as
`anyOf: [{string}, {type: null}]`. A query string or a header cannot carry a
JSON null: a parameter that is not given is simply absent, which
`required: false` already says. The null branch is not only noise. A client
or a fuzzer reading it takes "not null" as a type it may vary, so an array
counts as a value the operation refuses; but `["x"]`, sent the usual way
(form style, exploded), is the same `?q=x` as the string "x", which the
operation rightly accepts. So each such parameter is published as the one
schema it has, keeping its title, description and default.
"""

from __future__ import annotations

from typing import Any

_NULL = {"type": "null"}
_WIRE_LOCATIONS = ("query", "header", "cookie", "path")


def without_null_parameters(spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `spec` in place (and return it): no parameter schema offers null."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in _WIRE_LOCATIONS and "schema" in parameter:
                    parameter["schema"] = _not_null(parameter["schema"])
    return spec


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or _NULL not in branches:
        return schema
    others = [branch for branch in branches if branch != _NULL]
    if not others:
        return schema
    if len(others) > 1:
        return {**schema, "anyOf": others}
    around = {key: value for key, value in schema.items() if key != "anyOf"}
    if around.get("default", ...) is None:
        del around["default"]  # null was the default: the parameter is absent
    return {**others[0], **around}
