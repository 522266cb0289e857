"""The silences in force, compiled once, as an index alerts are matched against.

Pure: no database (services/silence_match.py loads and refreshes it).

Matchers follow Alertmanager's rules: every matcher must match, a regular
expression (RE2, services/silence_patterns.py) must match the whole value,
and a label the alert lacks reads as the empty string (so `labels.env = ""`
matches alerts without `env`).

Cost. An alert is not tested against the silences one by one. Each silence
is a bit of an int (its place in a SilenceTable), and its matchers are
compiled once, when it is first seen, into tables by the field they name:
the equality matchers on `labels.env` are a dict from value to the silences
that want it, the regular expressions on `labels.env` are one RE2 set (a few
when they are many), which finds every pattern that matches the alert's
value in one pass. A field's tables answer with the silences one of whose
matchers on that field fails; a silence matches when it fails on no field.
So an alert costs, per field of its own that some matcher names, one dict
look-up and one pass of each set, whatever the number of silences; the
fields it lacks cost nothing but an OR, worked out once per table. The
answer is memoised by the fields, so listing the same alerts again, or a
duplicate submitted again, matches nothing until the silences change.

A table holds at most one matcher per silence and field: a silence's second
matcher on the same field goes into that field's second table.

A new silence recompiles only the sets its patterns join (the last set of
each of its fields, while that has room); an ended one keeps its place until
the caller compacts (a new table of the silences that remain). The index of
the silences in force at a moment is the table and a mask of them, so a
silence starting or ending recompiles nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from operator import or_
from typing import Any

from app.services import silence_patterns

log = logging.getLogger(__name__)

MEMO_SIZE = 10_000  # alerts' answers remembered per table
# RE2 instructions per set: one compiles in a few milliseconds, and its DFA
# fits the memory RE2 gives a set by default.
SET_SIZE = 10_000
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)

Fields = Mapping[str, str]
# A stored silence as the table takes it: (id, matchers as stored, team).
Row = tuple[uuid.UUID, Iterable[Mapping[str, Any]], str | None]


Encoded = Mapping[str, bytes]  # the same fields as UTF-8, what patterns read


@dataclass(frozen=True, slots=True)
class CompiledMatcher:
    name: str
    value: str
    pattern: silence_patterns.Pattern | None  # None: an equality matcher
    size: int = 0  # the pattern's RE2 program size

    def matches(self, fields: Fields, encoded: Encoded) -> bool:
        """This one matcher against one alert (a table matches many at once)."""
        if self.pattern is None:
            return fields.get(self.name, "") == self.value
        return silence_patterns.full_match(self.pattern, encoded.get(self.name, b""))


@dataclass(frozen=True, slots=True)
class _Matcher:
    """What a table keeps of a matcher: not the compiled pattern, which its sets replace."""

    name: str
    value: str
    is_regex: bool
    size: int

    @classmethod
    def of(cls, matcher: CompiledMatcher) -> _Matcher:
        return cls(matcher.name, matcher.value, matcher.pattern is not None, matcher.size)


@dataclass(frozen=True, slots=True)
class Window:
    """When an unreleased silence is in force: [starts_at, ends_at)."""

    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime

    def in_force(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


# A field no matcher a user writes can name (those are alert_type, source,
# severity and labels.<key>): a team's silence matches it, first, so such a
# silence never holds another team's alerts.
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
        if not matcher.get("is_regex"):
            compiled.append(CompiledMatcher(name, value, None))
            continue
        try:
            pattern = silence_patterns.compile_pattern(value)
        except silence_patterns.PatternError:
            log.warning(
                "silence %s: matcher %s has a pattern RE2 refuses; it matches nothing", silence_id, name
            )
            return None
        compiled.append(CompiledMatcher(name, value, pattern, silence_patterns.program_size(pattern)))
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


@dataclass(slots=True)
class _Group:
    """Patterns of one slot on their way into a set."""

    patterns: list[str]
    owners: list[int]
    size: int


class _Patterns:
    """A PatternSet, and for each of its patterns the silences (bits) whose
    matcher it is. A silence owns at most one pattern of a slot, so those
    that pass are also every owner but the owners of the patterns that fail:
    whichever list is shorter is the one walked."""

    __slots__ = ("compiled", "everyone", "indexes", "owners", "patterns", "size")

    def __init__(self, group: _Group) -> None:
        self.patterns = group.patterns
        self.owners = group.owners
        self.size = group.size
        self.everyone = reduce(or_, self.owners, 0)
        self.indexes = frozenset(range(len(self.patterns)))
        self.compiled = silence_patterns.PatternSet(self.patterns)

    def passing(self, value: bytes) -> int:
        found = self.compiled.matching(value)
        if 2 * len(found) <= len(self.owners):
            return reduce(or_, map(self.owners.__getitem__, found), 0)
        if len(found) == len(self.owners):
            return self.everyone
        failed = self.indexes.difference(found)
        return self.everyone & ~reduce(or_, map(self.owners.__getitem__, failed), 0)


class _Slot:
    """At most one matcher per silence on one field."""

    __slots__ = ("equal", "has", "on_empty", "sets", "where")

    def __init__(self) -> None:
        self.has = 0  # the silences with a matcher here
        self.equal: dict[str, int] = {}  # value -> silences whose equality matcher wants it
        self.sets: list[_Patterns] = []
        self.where: dict[str, tuple[int, int]] = {}  # pattern -> (set, place in it)
        self.on_empty = 0  # failing(""), worked out once

    def failing(self, value: str) -> int:
        """The silences whose matcher here does not match `value`."""
        if not value:
            return self.on_empty
        return self._failing(value)

    def _failing(self, value: str) -> int:
        passed = self.equal.get(value, 0)
        if self.sets:
            encoded = value.encode()
            for patterns in self.sets:
                passed |= patterns.passing(encoded)
        return self.has & ~passed


class SilenceTable:
    """The matchers of the silences seen, compiled by field; each silence
    keeps its place (bit) for the table's life."""

    def __init__(self) -> None:
        self._place: dict[uuid.UUID, int] = {}
        self._ids: list[uuid.UUID] = []
        self._matchers: dict[uuid.UUID, tuple[_Matcher, ...] | None] = {}
        self._fields: dict[str, list[_Slot]] = {}
        self._required: tuple[tuple[str, int], ...] = ()  # fields whose absence fails some silence
        self._memo: dict[tuple[tuple[str, str], ...], int] = {}

    def __len__(self) -> int:
        """Places taken, by silences in force or not."""
        return len(self._ids)

    def knows(self, silence_id: uuid.UUID) -> bool:
        return silence_id in self._matchers

    def place(self, silence_id: uuid.UUID) -> int | None:
        """None for a silence not seen, or one whose pattern RE2 refuses."""
        return self._place.get(silence_id)

    def add(self, rows: Iterable[Row]) -> Iterator[None]:
        """Compile the silences not seen yet. A generator: it yields between
        pieces of work so that the caller can let others run; the table
        changes only when it is exhausted, all at once."""
        compiled: dict[uuid.UUID, tuple[_Matcher, ...] | None] = {}
        for silence_id, matchers, team in rows:
            if not self.knows(silence_id) and silence_id not in compiled:
                found = compile_matchers(silence_id, matchers, team)
                compiled[silence_id] = None if found is None else tuple(map(_Matcher.of, found))
                yield
        yield from self._add(list(compiled.items()))

    def take(self, other: SilenceTable, ids: Iterable[uuid.UUID]) -> Iterator[None]:
        """Add these silences as `other` compiled them (compaction), as add does."""
        yield from self._add(
            [(i, other._matchers[i]) for i in ids if i in other._matchers and not self.knows(i)]
        )

    def failing(self, fields: Fields) -> int:
        """The silences (bits) that some matcher keeps from matching these fields."""
        key = tuple(sorted(fields.items()))
        found = self._memo.get(key)
        if found is None:
            found = 0
            for name, value in fields.items():
                for slot in self._fields.get(name, ()):
                    found |= slot.failing(value)
            for name, on_empty in self._required:
                if name not in fields:
                    found |= on_empty
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = found
        return found

    def ids(self, bits: int) -> list[uuid.UUID]:
        found = []
        while bits:
            lowest = bits & -bits
            found.append(self._ids[lowest.bit_length() - 1])
            bits ^= lowest
        return found

    def _add(self, silences: Sequence[tuple[uuid.UUID, tuple[_Matcher, ...] | None]]) -> Iterator[None]:
        # First compile every set that changes, yielding between sets; then
        # change the table in one go, so that nobody matches against half of it.
        first = len(self._ids)
        placed: list[tuple[uuid.UUID, tuple[_Matcher, ...]]] = []
        new_patterns: dict[tuple[str, int], dict[str, int]] = {}  # slot -> new pattern -> size
        for silence_id, matchers in silences:
            if matchers is None:
                continue
            placed.append((silence_id, matchers))
            for (name, k), matcher in _slotted(matchers):
                slot = self._slot(name, k)
                if matcher.is_regex and (slot is None or matcher.value not in slot.where):
                    new_patterns.setdefault((name, k), {}).setdefault(matcher.value, matcher.size)
        grown: dict[tuple[str, int], tuple[int, list[_Patterns]]] = {}
        for (name, k), patterns in new_patterns.items():
            slot = self._slot(name, k)
            kept = _grown(slot.sets if slot is not None else [], patterns)
            sets: list[_Patterns] = []
            for group in kept[1]:
                for compiled in _compiled(group):
                    sets.append(compiled)
                    yield
            grown[(name, k)] = (kept[0], sets)
        self._commit(first, placed, grown, [i for i, matchers in silences if matchers is None])

    def _commit(
        self,
        first: int,
        placed: list[tuple[uuid.UUID, tuple[_Matcher, ...]]],
        grown: dict[tuple[str, int], tuple[int, list[_Patterns]]],
        refused: list[uuid.UUID],
    ) -> None:
        touched: set[tuple[str, int]] = set(grown)
        for (name, k), (kept, sets) in grown.items():
            slot = self._slot(name, k) or self._new_slot(name, k)
            del slot.sets[kept:]
            for patterns in sets:
                n = len(slot.sets)
                slot.sets.append(patterns)
                for i, pattern in enumerate(patterns.patterns):
                    slot.where[pattern] = (n, i)
        for offset, (silence_id, matchers) in enumerate(placed):
            place = first + offset
            bit = 1 << place
            self._place[silence_id] = place
            self._ids.append(silence_id)
            self._matchers[silence_id] = matchers
            for (name, k), matcher in _slotted(matchers):
                slot = self._slot(name, k) or self._new_slot(name, k)
                touched.add((name, k))
                slot.has |= bit
                if matcher.is_regex:
                    n, i = slot.where[matcher.value]
                    slot.sets[n].owners[i] |= bit
                    slot.sets[n].everyone |= bit
                else:
                    slot.equal[matcher.value] = slot.equal.get(matcher.value, 0) | bit
        for silence_id in refused:
            self._matchers[silence_id] = None
        for name, k in touched:
            slot = self._fields[name][k]
            slot.on_empty = slot._failing("")
        required = []
        for name, slots in self._fields.items():
            on_empty = reduce(or_, (slot.on_empty for slot in slots), 0)
            if on_empty:
                required.append((name, on_empty))
        self._required = tuple(required)
        self._memo.clear()

    def _slot(self, name: str, k: int) -> _Slot | None:
        slots = self._fields.get(name)
        return slots[k] if slots is not None and k < len(slots) else None

    def _new_slot(self, name: str, k: int) -> _Slot:
        slots = self._fields.setdefault(name, [])
        while len(slots) <= k:
            slots.append(_Slot())
        return slots[k]


def _slotted(matchers: Sequence[_Matcher]) -> Iterator[tuple[tuple[str, int], _Matcher]]:
    """Each matcher with its slot: (field, how many of the silence's
    matchers named that field before it)."""
    seen: dict[str, int] = {}
    for matcher in matchers:
        k = seen.get(matcher.name, 0)
        seen[matcher.name] = k + 1
        yield (matcher.name, k), matcher


def _grown(sets: Sequence[_Patterns], patterns: Mapping[str, int]) -> tuple[int, list[_Group]]:
    """A slot's sets with new patterns: how many of its sets stay as they
    are, and the groups to compile after them. New patterns make groups of
    at most SET_SIZE instructions (a larger pattern alone); then the last
    two groups merge while together within SET_SIZE and the newer at least
    half the older. So silences added one at a time recompile little (sizes
    double, as in a binary counter), and a slot keeps few sets."""
    stack: list[_Patterns | _Group] = list(sets)
    group = _Group([], [], 0)
    for pattern, size in patterns.items():
        if group.patterns and group.size + size > SET_SIZE:
            stack.append(group)
            group = _Group([], [], 0)
        group.patterns.append(pattern)
        group.owners.append(0)
        group.size += size
    stack.append(group)
    while (
        len(stack) >= 2
        and stack[-2].size + stack[-1].size <= SET_SIZE
        and stack[-2].size <= 2 * stack[-1].size
    ):
        newer, older = stack.pop(), stack.pop()
        stack.append(
            _Group(older.patterns + newer.patterns, older.owners + newer.owners, older.size + newer.size)
        )
    kept = 0
    while kept < len(sets) and stack[kept] is sets[kept]:
        kept += 1
    groups = [_Group(item.patterns, list(item.owners), item.size) for item in stack[kept:]]
    return kept, groups


def _compiled(group: _Group) -> Iterator[_Patterns]:
    """One set, or halves when RE2 cannot compile them together."""
    try:
        patterns = _Patterns(group)
    except silence_patterns.PatternError:
        half = len(group.patterns) // 2
        for part in (slice(None, half), slice(half, None)):
            yield from _compiled(_Group(group.patterns[part], group.owners[part], group.size // 2))
        return
    yield patterns


class ActiveIndex:
    """The silences in force throughout [valid_from, valid_until)."""

    def __init__(
        self,
        table: SilenceTable,
        in_force: Sequence[uuid.UUID],
        *,
        valid_from: datetime,
        valid_until: datetime,
    ) -> None:
        self.table = table
        self.valid_from = valid_from
        self.valid_until = valid_until
        self._rank: dict[uuid.UUID, int] = {}
        bits = 0
        for rank, silence_id in enumerate(in_force):
            place = table.place(silence_id)
            if place is not None:
                bits |= 1 << place
                self._rank[silence_id] = rank
        self._bits = bits

    def covers(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_until

    def matching(self, fields: Fields) -> list[uuid.UUID]:
        """The ids of the silences that match, oldest first."""
        if not self._bits:
            return []
        found = self.table.ids(self._bits & ~self.table.failing(fields))
        if len(found) > 1:
            found.sort(key=self._rank.__getitem__)
        return found


def active_index(table: SilenceTable, unreleased: Sequence[Window], now: datetime) -> ActiveIndex:
    """The index of the silences in force at `now` (`unreleased` oldest
    first, all in `table`), valid until the next start or end among them."""
    valid_from, valid_until = _EARLIEST, _LATEST
    for silence in unreleased:
        for moment in (silence.starts_at, silence.ends_at):
            if moment <= now:
                valid_from = max(valid_from, moment)
            else:
                valid_until = min(valid_until, moment)
    in_force = [silence.id for silence in unreleased if silence.in_force(now)]
    return ActiveIndex(table, in_force, valid_from=valid_from, valid_until=valid_until)
