"""An on-call document (app/oncall_document.py) as TOML text, and back.

Written by hand around tomli-w, which formats each value (strings with
their escapes, dates, numbers; instants are written in UTC with a `Z`): tomli-w alone picks inline or
`[[table]]` form by the length of each line, so one layer would be written
`[[schedules.layers]]` and a shorter one `layers = [{...}]`. Here the
shape is fixed: the lists of SECTIONS are always `[[...]]` tables, every
other list and table inline, keys in the models' field order, and nothing
else (no comments, no dates of export), so that the same configuration is
always the same bytes and a diff shows only what changed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import tomli_w

from app.errors import InvalidInput
from app.oncall_document import OncallDocument

CONTENT_TYPE = "application/toml"
SECTIONS = frozenset(
    {
        "users",
        "schedules",
        "schedules.layers",
        "schedules.overrides",
        "escalation_policies",
        "escalation_policies.steps",
        "routes",
    }
)
# Whole numbers of minutes are written as integers (`after_minutes = 5`),
# up to where a float holds every integer exactly.
_EXACT = 2**53


def dumps(document: OncallDocument) -> str:
    data = document.model_dump(mode="python", by_alias=True, exclude_none=True)
    return "".join(_table(data, path=""))


def loads(body: bytes) -> dict[str, Any]:
    """The TOML document as data; 422 when it is not TOML (UTF-8)."""
    try:
        return tomllib.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("the document is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"the document is not valid TOML: {exc}") from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise InvalidInput("the document is not valid TOML: nested too deep") from None


def _table(data: Mapping[str, Any], *, path: str) -> list[str]:
    lines: list[str] = []
    sections: list[tuple[str, list[Mapping[str, Any]]]] = []
    for key, value in data.items():
        inner = f"{path}.{key}" if path else key
        if inner in SECTIONS:
            sections.append((inner, value))
        else:
            lines.append(f"{key} = {_inline(value)}\n")
    for name, items in sections:
        for item in items:
            lines.append(f"\n[[{name}]]\n")
            lines.extend(_table(item, path=name))
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} = {_inline(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    if isinstance(value, datetime) and value.tzinfo is not None:
        # RFC 3339 in UTC, as the API answers: 2026-03-28T09:00:00Z.
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        value = int(value)
    # tomli-w formats one scalar as the value of a one-key document: `v = ...`.
    return tomli_w.dumps({"v": value}).removeprefix("v = ").removesuffix("\n")
