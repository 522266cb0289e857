"""A silence's regular expressions: RE2, as Alertmanager uses.

RE2 runs in time linear in the value matched, whatever the pattern: no
backtracking, so `(a+)+$` against a long run of `a`s followed by one other
character takes microseconds, not minutes. The price is that RE2 refuses what
needs backtracking (backreferences, lookaround); a silence naming such a
pattern is refused when it is created.

Patterns match the whole value (anchored at both ends). Values and patterns
are matched as UTF-8 bytes, RE2's own form, so that a match does not pay
for offsets translated back to characters.
"""

from __future__ import annotations

from typing import Any

import re2  # type: ignore[import-untyped]  # ships no type information

# A compiled pattern.
Pattern = Any
PatternError = re2.error


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is an answer to the client, not a log line
    options.never_capture = True  # only "does the whole value match" is asked
    return options


_OPTIONS = _options()


def compile_pattern(pattern: str) -> Pattern:
    """The compiled pattern; raises re2.error when RE2 refuses it."""
    return re2.compile(pattern.encode(), _OPTIONS)


def refusal(pattern: str) -> str | None:
    """None when RE2 accepts the pattern, else its reason."""
    try:
        compile_pattern(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "refused"
        return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    return None


def full_match(compiled: Pattern, value: bytes) -> bool:
    return compiled.fullmatch(value) is not None
