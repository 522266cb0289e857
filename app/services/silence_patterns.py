"""A silence's regular expressions: RE2, as Alertmanager uses.

RE2 runs in time linear in the value matched, whatever the pattern: no
backtracking, so `(a+)+$` against a long run of `a`s followed by one other
character takes microseconds, not minutes. The price is that RE2 refuses what
needs backtracking (backreferences, lookaround); a silence naming such a
pattern is refused when it is created.

Patterns match the whole value (anchored at both ends). Values and patterns
are matched as UTF-8 bytes, RE2's own form, so that a match does not pay
for offsets translated back to characters.

Many patterns against one value: a PatternSet is one RE2 set (RE2::Set,
anchored at both ends), which finds every pattern that matches in one pass
over the value. RE2 runs a set on its DFA only; when the DFA runs out of
memory, RE2 answers "no match" without saying why. So every set holds one
more pattern that matches any value: an answer without it is such a failure,
and the set's patterns are then tried one by one, so the answer is right
either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re2  # type: ignore[import-untyped]  # ships no type information

# A compiled pattern.
Pattern = Any
PatternError = re2.error

_ANY_VALUE = b"(?s:.*)"


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is an answer to the client, not a log line
    options.never_capture = True  # only "does the whole value match" is asked
    return options


_OPTIONS = _options()


def compile_pattern(pattern: str) -> Pattern:
    """The compiled pattern; raises re2.error when RE2 refuses it."""
    return re2.compile(pattern.encode(), _OPTIONS)


def program_size(compiled: Pattern) -> int:
    """RE2's measure of a compiled pattern's size (instructions): what a set
    of patterns costs to compile and to hold."""
    return int(compiled.programsize)


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


class PatternSet:
    """Patterns that each must match a whole value, matched in one pass.

    Raises re2.error when RE2 cannot compile several patterns together (too
    large): the caller then makes smaller sets. One pattern that RE2 accepts
    alone but not as a set is tried by itself."""

    __slots__ = ("_any", "_one_by_one", "_patterns", "_set")

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = tuple(patterns)
        self._set = re2.Set.FullMatchSet(_OPTIONS)
        for pattern in self._patterns:
            self._set.Add(pattern.encode())
        self._any = self._set.Add(_ANY_VALUE)
        self._one_by_one: list[Pattern] | None = None
        try:
            self._set.Compile()
        except re2.error:
            if len(self._patterns) > 1:
                raise
            self._set = None

    def __len__(self) -> int:
        return len(self._patterns)

    def matching(self, value: bytes) -> list[int]:
        """The indexes of the patterns that match the whole value, in no
        particular order."""
        if self._set is None:
            return self._each(value)
        found: list[int] = self._set.Match(value) or []
        if found and found[-1] == self._any:  # where RE2 puts it, being the last added
            found.pop()
            return found
        try:
            found.remove(self._any)
        except ValueError:  # the DFA gave up: no answer, not "none match"
            return self._each(value)
        return found

    def _each(self, value: bytes) -> list[int]:
        if self._one_by_one is None:
            self._one_by_one = [compile_pattern(pattern) for pattern in self._patterns]
        return [i for i, compiled in enumerate(self._one_by_one) if full_match(compiled, value)]
