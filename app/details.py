"""Limits on an alert's free-form `details`: depth, size, and what can be stored.

`details` is any JSON object, so its shape is checked by walking it, without
recursion (a hostile document must not be able to exhaust the stack). Refused:
- nesting deeper than MAX_DETAILS_DEPTH containers (the object itself is 1);
- more than MAX_DETAILS_BYTES once serialised as UTF-8 JSON;
- NUL characters, in keys or strings: PostgreSQL's jsonb cannot store them;
- lone UTF-16 surrogates (legal in JSON escapes, not in UTF-8);
- NaN and infinities (Python's parser accepts them; JSON and jsonb do not);
- integers outside the signed 64-bit range: most JSON readers, this
  service's own serialiser among them, cannot carry them exactly.
Each is a ValueError, which the API answers as a 422 naming `details`.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DETAILS_DEPTH = 10
MAX_DETAILS_BYTES = 64 * 1024
_INT64 = (-(2**63), 2**63 - 1)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ValueError("NUL characters are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("strings must be valid UTF-8 (a lone surrogate was found)") from None


def check_details(details: dict[str, Any]) -> dict[str, Any]:
    stack: list[tuple[Any, int]] = [(details, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DETAILS_DEPTH:
                raise ValueError(f"nested too deep: at most {MAX_DETAILS_DEPTH} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        elif isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
            raise ValueError("integers must fit in 64 bits; send larger ones as strings")
    size = len(json.dumps(details, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_DETAILS_BYTES:
        raise ValueError(f"too large: {size} bytes as JSON, at most {MAX_DETAILS_BYTES}")
    return details
