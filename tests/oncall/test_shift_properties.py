"""Shift computation, by property: hypothesis draws schedules (layers with
restrictions, overrides) and ranges around the DST changes of Europe/Berlin,
America/New_York and Australia/Sydney and around leap days, and checks that
`shifts` and `oncall_at` tell one story:

- shifts are sorted, non-overlapping, inside the range, and merged (no two
  adjacent shifts of one user);
- at every shift's first and last microsecond, at drawn instants and in the
  gaps, `oncall_at` names exactly the user of the shift holding the instant;
- a range cut in two gives the same shifts as the whole;
- overrides win (the later of two), layers stack (the top one that has
  someone), restrictions hold (outside the repeated hour of a fall-back,
  a restricted layer is on exactly when the local clock is in a window);
- daily and weekly handoffs keep their local time; hourly ones are whole
  real hours apart.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.oncall.shifts import (
    Layer,
    Override,
    Schedule,
    Shift,
    Window,
    boundary,
    in_restrictions,
    layer_user_at,
    local_instant,
    oncall_at,
    shifts,
)

ZONES = [ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney")]
# Days around each zone's changes in 2026, and the leap days of 2028.
AROUND = [
    date(2026, 3, 29), date(2026, 10, 25),  # Berlin
    date(2026, 3, 8), date(2026, 11, 1),  # New York
    date(2026, 4, 5), date(2026, 10, 4),  # Sydney
    date(2028, 2, 29), date(2028, 3, 26),  # a leap day; Berlin's change that year
]  # fmt: skip
USERS = "abcd"
HALF_HOURS = st.integers(0, 47).map(lambda n: timedelta(minutes=30 * n))
MICROSECOND = timedelta(microseconds=1)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(HALF_HOURS)
    end = draw(st.integers(start // timedelta(minutes=30) + 1, 48).map(lambda n: timedelta(minutes=30 * n)))
    return Window(frozenset(draw(st.sets(st.integers(0, 6), min_size=1))), start, end)


@st.composite
def layers(draw: st.DrawFn, anchor: date, index: int) -> Layer:
    unit = draw(st.sampled_from(["hours", "days", "weeks"]))
    length = draw(st.integers(1, 30) if unit == "hours" else st.integers(1, 3))
    return Layer(
        name=f"layer-{index}",
        participants=tuple(draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=4))),
        shift_length=length,
        shift_unit=unit,
        handoff=(datetime.min + draw(HALF_HOURS)).time(),
        start_date=anchor + timedelta(days=draw(st.integers(-10, 3))),
        restrictions=tuple(draw(st.lists(windows(), max_size=2))),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Schedule, datetime, datetime]:
    zone = draw(st.sampled_from(ZONES))
    anchor = draw(st.sampled_from(AROUND))
    start = datetime.combine(anchor, time(), UTC) + timedelta(minutes=draw(st.integers(-3 * 1440, 1440)))
    end = start + timedelta(minutes=draw(st.integers(1, 6 * 1440)))
    stack = tuple(draw(layers(anchor, i)) for i in range(draw(st.integers(0, 3))))
    overrides = []
    for _ in range(draw(st.integers(0, 3))):
        lo = start + timedelta(minutes=draw(st.integers(-600, 6 * 1440)))
        overrides.append(
            Override(draw(st.sampled_from(USERS)), lo, lo + timedelta(minutes=draw(st.integers(1, 2000))))
        )
    return Schedule(zone, stack, tuple(overrides)), start, end


def _holding(found: list[Shift], instant: datetime) -> str | None:
    holders = [s.user for s in found if s.start <= instant < s.end]
    assert len(holders) <= 1
    return holders[0] if holders else None


@PROPERTY
@given(cases())
def test_shifts_are_sorted_disjoint_merged_and_inside_the_range(
    case: tuple[Schedule, datetime, datetime],
) -> None:
    schedule, start, end = case
    found = shifts(schedule, start, end)
    for shift in found:
        assert start <= shift.start < shift.end <= end
        assert shift.start.tzinfo is UTC and shift.sources
    for before, after in itertools.pairwise(found):
        assert before.end <= after.start
        assert not (before.end == after.start and before.user == after.user), "unmerged"


@PROPERTY
@given(cases(), st.lists(st.floats(0, 1, exclude_max=True), max_size=20))
def test_oncall_at_agrees_with_shifts_everywhere(
    case: tuple[Schedule, datetime, datetime], fractions: list[float]
) -> None:
    schedule, start, end = case
    found = shifts(schedule, start, end)
    instants = [start, end - MICROSECOND]
    instants += [start + (end - start) * f for f in fractions]
    for shift in found:
        instants += [shift.start, shift.end - MICROSECOND, shift.end, shift.start - MICROSECOND]
    for instant in instants:
        if start <= instant < end:
            assert oncall_at(schedule, instant) == _holding(found, instant), instant


@PROPERTY
@given(cases(), st.floats(0, 1))
def test_a_range_cut_in_two_gives_the_same_shifts(
    case: tuple[Schedule, datetime, datetime], cut: float
) -> None:
    schedule, start, end = case
    middle = start + (end - start) * cut
    halves = shifts(schedule, start, middle) + shifts(schedule, middle, end)
    rejoined: list[Shift] = []
    for shift in halves:
        if rejoined and rejoined[-1].user == shift.user and rejoined[-1].end == shift.start:
            rejoined[-1] = Shift(shift.user, rejoined[-1].start, shift.end)
        else:
            rejoined.append(Shift(shift.user, shift.start, shift.end))
    assert [(s.user, s.start, s.end) for s in rejoined] == [
        (s.user, s.start, s.end) for s in shifts(schedule, start, end)
    ]


@PROPERTY
@given(cases(), st.floats(0, 1, exclude_max=True))
def test_overrides_win_and_layers_stack(case: tuple[Schedule, datetime, datetime], fraction: float) -> None:
    schedule, start, end = case
    instant = start + (end - start) * fraction
    covering = [o for o in schedule.overrides if o.start <= instant < o.end]
    expected = covering[-1].user if covering else None
    if expected is None:
        for layer in reversed(schedule.layers):
            expected = layer_user_at(layer, instant, schedule.zone)
            if expected is not None:
                break
    assert oncall_at(schedule, instant) == expected
    for override in schedule.overrides:
        later = schedule.overrides[schedule.overrides.index(override) + 1 :]
        if not any(o.start <= override.start < o.end for o in later):
            assert oncall_at(schedule, override.start) == override.user


def _repeated(instant: datetime, zone: ZoneInfo) -> bool:
    """Whether the local clock shows this time twice (the hour of a fall-back)."""
    local = instant.astimezone(zone).replace(tzinfo=None)
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC) != local.replace(
        tzinfo=zone, fold=1
    ).astimezone(UTC)


@PROPERTY
@given(cases(), st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=20))
def test_restrictions_follow_the_local_clock(
    case: tuple[Schedule, datetime, datetime], fractions: list[float]
) -> None:
    schedule, start, end = case
    for layer in schedule.layers:
        for fraction in fractions:
            instant = start + (end - start) * fraction
            if _repeated(instant, schedule.zone):
                continue
            local = instant.astimezone(schedule.zone)
            clock = local.replace(tzinfo=None) - datetime.combine(local.date(), time())
            inside = not layer.restrictions or any(
                local.weekday() in w.weekdays and w.start <= clock < w.end for w in layer.restrictions
            )
            assert in_restrictions(layer, instant, schedule.zone) == inside, (layer, instant)
            if not inside:
                assert layer_user_at(layer, instant, schedule.zone) is None


@PROPERTY
@given(cases(), st.integers(0, 20))
def test_handoffs_keep_local_time_or_whole_hours(case: tuple[Schedule, datetime, datetime], k: int) -> None:
    schedule, _, _ = case
    zone = schedule.zone
    for layer in schedule.layers:
        this, after = boundary(layer, k, zone), boundary(layer, k + 1, zone)
        if layer.shift_unit == "hours":
            assert after - this == timedelta(hours=layer.shift_length)
            continue
        days = layer.shift_length * (7 if layer.shift_unit == "weeks" else 1)
        wanted = datetime.combine(layer.start_date + timedelta(days=k * days), layer.handoff)
        shown = this.astimezone(zone).replace(tzinfo=None)
        if local_instant(wanted, zone).astimezone(zone).replace(tzinfo=None) == wanted:
            assert shown == wanted  # the handoff's wall-clock time, on its day
        else:
            assert wanted < shown <= wanted + timedelta(hours=2)  # skipped: the jump
        assert this < after
