"""Print the service's OpenAPI spec: `python -m app.openapi > openapi/openapi.json`."""

from __future__ import annotations

import json
from typing import Any

from app.main import create_app
from app.settings import Settings


def spec() -> dict[str, Any]:
    # Default settings: the spec does not depend on configuration.
    return create_app(Settings()).openapi()


def render() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
