"""openapi/openapi.json is the app's spec, and the spec documents every route."""

from __future__ import annotations

import json
from pathlib import Path

from app.openapi import render, spec

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_exported_spec_matches_the_app() -> None:
    assert json.loads(SPEC_FILE.read_text()) == json.loads(render()), (
        "openapi/openapi.json is stale: run `make openapi` and commit it"
    )


def test_every_operation_is_summarised_and_documents_its_errors() -> None:
    paths = spec()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            if "requestBody" in operation or "parameters" in operation:
                assert "422" in operation["responses"], f"{method.upper()} {path} lacks its 422"
