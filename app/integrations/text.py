"""Make outside text fit our fields instead of refusing a whole alert over it."""

from __future__ import annotations

import re

from app.schemas import MAX_MESSAGE_CHARS

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f]")


def line(text: object, limit: int = 200) -> str:
    """One line, no control characters, at most `limit` characters."""
    flat = " ".join(_CONTROL_ALL.sub(" ", str(text)).split())
    return flat[:limit]


def block(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Free text: newlines and tabs kept (CRLF becomes LF), other controls dropped."""
    cleaned = _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n")).strip()
    return cleaned[:limit]
