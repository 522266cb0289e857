"""The silences in force, compiled once, as an index alerts are matched against.

Pure: no database (services/silence_match.py loads and refreshes it).

Matchers follow Alertmanager's rules: every matcher must match, a regular
expression (RE2, services/silence_patterns.py) must match the whole value,
and a label the alert lacks reads as the empty string (so `labels.env = ""`
matches alerts without `env`).

Cost. A silence's matchers are compiled once, when it is first seen, never
per alert. An alert is tested only against the silences that could match
it: a silence with an equality matcher on a non-empty value is filed under
that (name, value), and an alert looks only under its own (name, value)
pairs, plus the silences that have no such matcher. The answer is memoised
by the fields matched on, so listing the same alerts again, or a duplicate
submitted again, matches nothing until the silences in force change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from app.services import silence_patterns

log = logging.getLogger(__name__)

MEMO_SIZE = 10_000  # alerts' answers remembered per set of silences in force
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)

Fields = Mapping[str, str]
Encoded = Mapping[str, bytes]  # the same fields as UTF-8, what patterns read


@dataclass(frozen=True, slots=True)
class CompiledMatcher:
    name: str
    value: str
    pattern: silence_patterns.Pattern | None  # None: an equality matcher

    def matches(self, fields: Fields, encoded: Encoded) -> bool:
        if self.pattern is None:
            return fields.get(self.name, "") == self.value
        return silence_patterns.full_match(self.pattern, encoded.get(self.name, b""))


@dataclass(frozen=True, slots=True)
class CompiledSilence:
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    matchers: tuple[CompiledMatcher, ...]

    def in_force(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, fields: Fields, encoded: Encoded) -> bool:
        return all(matcher.matches(fields, encoded) for matcher in self.matchers)

    def filed_under(self) -> tuple[str, str] | None:
        """An equality matcher on a non-empty value: only alerts with that
        value can match."""
        for matcher in self.matchers:
            if matcher.pattern is None and matcher.value:
                return matcher.name, matcher.value
        return None

    def with_window(self, starts_at: datetime, ends_at: datetime) -> CompiledSilence:
        if (starts_at, ends_at) == (self.starts_at, self.ends_at):
            return self
        return replace(self, starts_at=starts_at, ends_at=ends_at)


# A field no matcher a user writes can name (those are alert_type, source,
# severity and labels.<key>): a team's silence matches it, first, so such a
# silence is filed under its team and never holds another team's alerts.
TEAM = "team"


def compile_matchers(
    silence_id: uuid.UUID, matchers: Iterable[Mapping[str, Any]], team: str | None = None
) -> tuple[CompiledMatcher, ...] | None:
    """None when a stored pattern is one RE2 refuses (a silence created
    before patterns were checked with RE2): such a silence holds nothing, so
    its alerts notify rather than go quiet. `team`: the silence's team, None
    for a silence of every team."""
    compiled = [CompiledMatcher(TEAM, team, None)] if team else []
    for matcher in matchers:
        name, value = str(matcher["name"]), str(matcher["value"])
        pattern = None
        if matcher.get("is_regex"):
            try:
                pattern = silence_patterns.compile_pattern(value)
            except silence_patterns.PatternError:
                log.warning(
                    "silence %s: matcher %s has a pattern RE2 refuses; it matches nothing", silence_id, name
                )
                return None
        compiled.append(CompiledMatcher(name, value, pattern))
    return tuple(compiled)


def alert_fields(alert: Any) -> dict[str, str]:
    """What matchers read: alert_type, source, severity and labels.<key>,
    and the team (which only a team's silence matches on, see TEAM)."""
    fields = {
        TEAM: str(getattr(alert, "team", None) or ""),
        "alert_type": str(alert.alert_type or ""),
        "source": str(alert.source or ""),
        "severity": str(alert.severity or ""),
    }
    for key, value in (alert.labels or {}).items():
        fields[f"labels.{key}"] = str(value)
    return fields


class ActiveIndex:
    """The silences in force throughout [valid_from, valid_until), oldest first."""

    def __init__(self, silences: Sequence[CompiledSilence], *, valid_from: datetime, valid_until: datetime):
        self.silences = tuple(silences)
        self.valid_from = valid_from
        self.valid_until = valid_until
        self._filed: dict[tuple[str, str], list[int]] = {}
        self._unfiled: list[int] = []
        for i, silence in enumerate(self.silences):
            key = silence.filed_under()
            if key is None:
                self._unfiled.append(i)
            else:
                self._filed.setdefault(key, []).append(i)
        self._memo: dict[tuple[tuple[str, str], ...], tuple[uuid.UUID, ...]] = {}

    def covers(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_until

    def matching(self, fields: Fields) -> list[uuid.UUID]:
        """The ids of the silences that match, oldest first."""
        if not self.silences:
            return []
        key = tuple(sorted(fields.items()))
        found = self._memo.get(key)
        if found is None:
            candidates = set(self._unfiled)
            for pair in fields.items():
                candidates.update(self._filed.get(pair, ()))
            encoded = {name: value.encode() for name, value in fields.items()}
            found = tuple(
                self.silences[i].id for i in sorted(candidates) if self.silences[i].matches(fields, encoded)
            )
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = found
        return list(found)


def active_index(unreleased: Sequence[CompiledSilence], now: datetime) -> ActiveIndex:
    """The index of the silences in force at `now`, valid until the next
    start or end among them."""
    valid_from, valid_until = _EARLIEST, _LATEST
    for silence in unreleased:
        for moment in (silence.starts_at, silence.ends_at):
            if moment <= now:
                valid_from = max(valid_from, moment)
            else:
                valid_until = min(valid_until, moment)
    in_force = [silence for silence in unreleased if silence.in_force(now)]
    return ActiveIndex(in_force, valid_from=valid_from, valid_until=valid_until)
