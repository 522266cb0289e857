"""The published spec offers no null for a parameter (app/api/spec.py).

A null branch let a fuzzer read "not null" as a type to vary: it sent the
array ["false"] for `q` as a request the operation must refuse, but an array
of one, sent form-exploded, is the same `?q=false` as the string "false",
which GET /alerts rightly accepts.
"""

from __future__ import annotations

from typing import Any

from app.api.spec import without_null_parameters
from app.main import create_app
from app.settings import Settings


def _parameters(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", parameter["name"], parameter)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
    ]


def _offers_null(schema: Any) -> bool:
    if isinstance(schema, list):
        return any(_offers_null(item) for item in schema)
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_offers_null(value) for value in schema.values())


def test_no_parameter_of_the_app_offers_null() -> None:
    spec = create_app(Settings()).openapi()
    parameters = _parameters(spec)
    assert parameters  # the check below looked at something
    offering_null = [(operation, name) for operation, name, p in parameters if _offers_null(p["schema"])]
    assert offering_null == []
    [q] = [p for operation, name, p in parameters if (operation, name) == ("GET /alerts", "q")]
    assert q["required"] is False
    assert q["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": r"^[^\x00-\x1f\x7f-\x9f]+$",
        "title": "Q",
        "description": "text in message, alert_type or source, ignoring case (no wildcards)",
    }


def test_only_parameters_lose_their_null_branch() -> None:
    nullable = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "title": "N", "default": None}
    two = {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}], "title": "Two"}
    body = {"content": {"application/json": {"schema": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}}
    spec = {
        "paths": {
            "/x": {
                "get": {
                    "parameters": [
                        {"name": "n", "in": "query", "required": False, "schema": nullable},
                        {"name": "two", "in": "header", "required": False, "schema": two},
                    ],
                    "requestBody": body,
                }
            }
        }
    }
    result = without_null_parameters(spec)
    n, two_kinds = result["paths"]["/x"]["get"]["parameters"]
    assert n["schema"] == {"type": "integer", "minimum": 1, "title": "N"}  # null default: absent instead
    assert two_kinds["schema"] == {"anyOf": [{"type": "integer"}, {"type": "string"}], "title": "Two"}
    # A JSON body can carry null: left as it is.
    assert result["paths"]["/x"]["get"]["requestBody"] == body
