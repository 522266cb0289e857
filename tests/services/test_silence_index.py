"""The compiled index of silences (services/silence_index.py) answers as each
matcher tried alone would: the same silences, oldest first, whatever the
sets the patterns were compiled into, the order silences arrived in, or a
compaction."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.services import silence_index, silence_patterns
from app.services.silence_index import SilenceTable, Window, active_index, compile_matchers

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

NAMES = ("alert_type", "source", "severity", "labels.env", "labels.host", "labels.path")
VALUES = ("", "prod", "staging", "db-1", "db-12", "web-1", "aaaa", "x.y", "ünï")
PATTERNS = (
    "",
    ".*",
    ".+",
    "prod|staging",
    "db-[0-9]+",
    "db-1",
    "(a+)+",
    "[a-z]*-1",
    "x\\.y",
    "ü.*",
    "^prod$",
    "(?i)PROD",
    "web-1|",
)


def _drain(work: Any) -> None:
    for _ in work:
        pass


def _random_silence(rng: random.Random) -> dict[str, Any]:
    matchers = []
    for _ in range(rng.randint(1, 5)):
        # Few names: a silence often names one field twice.
        name = rng.choice(NAMES[:4] if rng.random() < 0.5 else NAMES)
        if rng.random() < 0.6:
            matchers.append({"name": name, "value": rng.choice(PATTERNS), "is_regex": True})
        else:
            matchers.append({"name": name, "value": rng.choice(VALUES), "is_regex": False})
    team = rng.choice((None, None, "blue", "red"))
    starts = NOW - timedelta(minutes=rng.choice((-10, 10, 20)))
    ends = starts + timedelta(minutes=rng.choice((5, 30, 60)))
    return {
        "id": uuid.uuid4(),
        "matchers": matchers,
        "team": team,
        "window": Window(uuid.uuid4(), starts, ends),
    }


def _random_fields(rng: random.Random) -> dict[str, str]:
    fields = {"team": rng.choice(("", "blue", "red"))}
    for name in NAMES:
        if rng.random() < 0.7:
            fields[name] = rng.choice(VALUES)
    return fields


def _expected(silences: list[dict[str, Any]], fields: dict[str, str]) -> list[uuid.UUID]:
    """Each matcher tried alone, as the index did before it had tables."""
    encoded = {name: value.encode() for name, value in fields.items()}
    found = []
    for silence in silences:
        compiled = compile_matchers(silence["id"], silence["matchers"], silence["team"])
        window = silence["window"]
        if (
            compiled is not None
            and window.in_force(NOW)
            and all(matcher.matches(fields, encoded) for matcher in compiled)
        ):
            found.append(silence["id"])
    return found


def _windows(silences: list[dict[str, Any]]) -> list[Window]:
    return [Window(s["id"], s["window"].starts_at, s["window"].ends_at) for s in silences]


@pytest.mark.parametrize("seed", range(6))
def test_the_index_matches_what_each_matcher_alone_matches(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(silence_index, "SET_SIZE", 40)  # many small sets, merged as silences arrive
    rng = random.Random(seed)
    silences = [_random_silence(rng) for _ in range(120)]
    table = SilenceTable()
    # Silences arrive in batches of every size, some twice.
    start = 0
    while start < len(silences):
        end = start + rng.choice((1, 1, 3, 17))
        batch = silences[max(0, start - 1) : end]
        _drain(table.add([(s["id"], s["matchers"], s["team"]) for s in batch]))
        start = end
    index = active_index(table, _windows(silences), NOW)
    matched_somewhere = 0
    for _ in range(300):
        fields = _random_fields(rng)
        expected = _expected(silences, fields)
        assert index.matching(fields) == expected, fields
        matched_somewhere += bool(expected)
    assert matched_somewhere > 10  # the comparison is not only of empty answers

    # A compacted table of some of them answers for those alike.
    kept = silences[::3]
    compacted = SilenceTable()
    _drain(compacted.take(table, [s["id"] for s in kept]))
    assert len(compacted) == sum(
        compile_matchers(s["id"], s["matchers"], s["team"]) is not None for s in kept
    )
    index = active_index(compacted, _windows(kept), NOW)
    for _ in range(100):
        fields = _random_fields(rng)
        assert index.matching(fields) == _expected(kept, fields), fields


def test_a_missing_field_reads_as_empty_and_a_field_named_twice_needs_both() -> None:
    table = SilenceTable()
    no_env, two_on_host, empty_pattern = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _drain(
        table.add(
            [
                (no_env, [{"name": "labels.env", "value": ""}], None),
                (
                    two_on_host,
                    [
                        {"name": "labels.host", "value": "db-.*", "is_regex": True},
                        {"name": "labels.host", "value": ".*-1", "is_regex": True},
                    ],
                    None,
                ),
                (empty_pattern, [{"name": "labels.path", "value": "|/data", "is_regex": True}], None),
            ]
        )
    )
    windows = [Window(i, NOW, NOW + timedelta(hours=1)) for i in (no_env, two_on_host, empty_pattern)]
    index = active_index(table, windows, NOW)
    assert index.matching({"labels.host": "db-1"}) == [no_env, two_on_host, empty_pattern]
    assert index.matching({"labels.host": "db-2", "labels.env": "prod"}) == [empty_pattern]
    assert index.matching({"labels.host": "web-1", "labels.env": "", "labels.path": "/var"}) == [no_env]
    assert index.matching({"labels.path": "/data", "labels.env": "x"}) == [empty_pattern]


def test_a_team_silence_holds_only_its_team() -> None:
    table = SilenceTable()
    blue, everyone = uuid.uuid4(), uuid.uuid4()
    matchers = [{"name": "source", "value": "api|web", "is_regex": True}]
    _drain(table.add([(blue, matchers, "blue"), (everyone, matchers, None)]))
    index = active_index(table, [Window(i, NOW, NOW + timedelta(hours=1)) for i in (blue, everyone)], NOW)
    assert index.matching({"team": "blue", "source": "api"}) == [blue, everyone]
    assert index.matching({"team": "red", "source": "api"}) == [everyone]
    assert index.matching({"team": "", "source": "api"}) == [everyone]


def test_oldest_first_whatever_order_the_table_saw_them_in() -> None:
    table = SilenceTable()
    older, newer = uuid.uuid4(), uuid.uuid4()
    matchers = [{"name": "source", "value": "api"}]
    _drain(table.add([(newer, matchers, None)]))
    _drain(table.add([(older, matchers, None)]))
    windows = [Window(older, NOW, NOW + timedelta(hours=1)), Window(newer, NOW, NOW + timedelta(hours=1))]
    assert active_index(table, windows, NOW).matching({"source": "api"}) == [older, newer]


def test_only_silences_in_force_match_and_the_index_knows_until_when() -> None:
    table = SilenceTable()
    now_on, later = uuid.uuid4(), uuid.uuid4()
    matchers = [{"name": "source", "value": ".*", "is_regex": True}]
    _drain(table.add([(now_on, matchers, None), (later, matchers, None)]))
    windows = [
        Window(now_on, NOW - timedelta(minutes=5), NOW + timedelta(minutes=30)),
        Window(later, NOW + timedelta(minutes=10), NOW + timedelta(minutes=60)),
    ]
    index = active_index(table, windows, NOW)
    assert index.matching({"source": "x"}) == [now_on]
    assert index.covers(NOW + timedelta(minutes=9)) and not index.covers(NOW + timedelta(minutes=10))
    assert active_index(table, windows, NOW + timedelta(minutes=40)).matching({"source": "x"}) == [later]


def test_a_silence_with_a_pattern_re2_refuses_holds_nothing() -> None:
    table = SilenceTable()
    refused, fine = uuid.uuid4(), uuid.uuid4()
    _drain(
        table.add(
            [
                (refused, [{"name": "source", "value": "(a)\\1", "is_regex": True}], None),
                (fine, [{"name": "source", "value": "a+", "is_regex": True}], None),
            ]
        )
    )
    assert table.knows(refused) and table.place(refused) is None
    windows = [Window(i, NOW, NOW + timedelta(hours=1)) for i in (refused, fine)]
    assert active_index(table, windows, NOW).matching({"source": "aa"}) == [fine]


def test_the_table_changes_only_once_its_work_is_done() -> None:
    table = SilenceTable()
    first = uuid.uuid4()
    _drain(table.add([(first, [{"name": "source", "value": "a.*", "is_regex": True}], None)]))
    second = uuid.uuid4()
    work = table.add([(second, [{"name": "source", "value": "ab", "is_regex": True}], None)])
    next(work)
    windows = [Window(i, NOW, NOW + timedelta(hours=1)) for i in (first, second)]
    # Half way through, the table still answers as before (and remembers that answer) ...
    assert active_index(table, windows, NOW).matching({"source": "ab"}) == [first]
    _drain(work)
    # ... and once done, with the new silence, the old answer forgotten.
    assert active_index(table, windows, NOW).matching({"source": "ab"}) == [first, second]


def test_silences_added_one_at_a_time_share_few_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silence_index, "SET_SIZE", 400)
    table = SilenceTable()
    silences = [uuid.uuid4() for _ in range(200)]
    for i, silence_id in enumerate(silences):
        _drain(
            table.add(
                [(silence_id, [{"name": "source", "value": f"host-{i}(-[0-9]+)?", "is_regex": True}], None)]
            )
        )
    [slot] = table._fields["source"]
    size = sum(patterns.size for patterns in slot.sets)
    # Full sets, plus a few smaller ones (sizes halve), not a set per silence.
    assert len(slot.sets) <= size // silence_index.SET_SIZE + 8, [p.size for p in slot.sets]
    windows = [Window(i, NOW, NOW + timedelta(hours=1)) for i in silences]
    index = active_index(table, windows, NOW)
    assert index.matching({"source": "host-17-3"}) == [silences[17]]
    assert index.matching({"source": "host-199"}) == [silences[199]]


def test_a_set_whose_dfa_gives_up_is_answered_pattern_by_pattern() -> None:
    patterns = silence_patterns.PatternSet(["a+", "b", ".*", "ab|ba"])
    assert sorted(patterns.matching(b"ab")) == [2, 3]

    class GivesUp:
        def Match(self, value: bytes) -> None:  # RE2's name
            return None  # what RE2 answers when its DFA runs out of memory

    patterns._set = GivesUp()
    assert sorted(patterns.matching(b"ab")) == [2, 3]
    assert sorted(patterns.matching(b"aaa")) == [0, 2]
