"""Shift computation by example: hand-computed instants across DST changes
in three zones, leap days, midnight and skipped or repeated handoff times,
restrictions, stacked layers, overrides and merging."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.services.oncall.shifts import (
    Layer,
    Override,
    Schedule,
    Shift,
    Window,
    boundary,
    local_instant,
    oncall_at,
    shifts,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
WEEKDAYS = frozenset(range(5))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


def layer(
    participants: str = "ab",
    *,
    length: int = 1,
    unit: str = "days",
    handoff: time = time(9),
    start: date = date(2026, 3, 27),
    restrictions: tuple[Window, ...] = (),
    name: str = "primary",
) -> Layer:
    return Layer(name, tuple(participants), length, unit, handoff, start, restrictions)  # type: ignore[arg-type]


def spans(found: list[Shift]) -> list[tuple[str, datetime, datetime]]:
    return [(s.user, s.start, s.end) for s in found]


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        # Skipped: the moment of the jump.
        (BERLIN, datetime(2026, 3, 29, 2, 30), utc(2026, 3, 29, 1, 0)),
        (NEW_YORK, datetime(2026, 3, 8, 2, 30), utc(2026, 3, 8, 7, 0)),
        (SYDNEY, datetime(2026, 10, 4, 2, 30), utc(2026, 10, 3, 16, 0)),
        # Repeated: the first occurrence (summer time).
        (BERLIN, datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),
        (NEW_YORK, datetime(2026, 11, 1, 1, 30), utc(2026, 11, 1, 5, 30)),
        (SYDNEY, datetime(2026, 4, 5, 2, 30), utc(2026, 4, 4, 15, 30)),
        # Plain times either side.
        (BERLIN, datetime(2026, 3, 29, 3, 0), utc(2026, 3, 29, 1, 0)),
        (BERLIN, datetime(2026, 3, 29, 1, 59), utc(2026, 3, 29, 0, 59)),
        (NEW_YORK, datetime(2026, 11, 1, 2, 0), utc(2026, 11, 1, 7, 0)),
    ],
)
def test_local_instant_of_skipped_and_repeated_times(
    zone: ZoneInfo, local: datetime, expected: datetime
) -> None:
    assert local_instant(local, zone) == expected


def test_daily_handoff_stays_at_nine_in_berlin_across_spring_forward() -> None:
    schedule = Schedule(BERLIN, (layer(),))
    found = shifts(schedule, utc(2026, 3, 27, 8), utc(2026, 3, 30, 7))
    assert spans(found) == [
        ("a", utc(2026, 3, 27, 8), utc(2026, 3, 28, 8)),  # 09:00 CET
        ("b", utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),  # 23 hours: to 09:00 CEST
        ("a", utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
    ]
    assert found[0].sources == ("primary",)


def test_daily_handoff_in_berlin_across_fall_back_lasts_25_hours() -> None:
    schedule = Schedule(BERLIN, (layer(start=date(2026, 10, 24)),))
    found = shifts(schedule, utc(2026, 10, 24, 7), utc(2026, 10, 26, 8))
    assert spans(found) == [
        ("a", utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
        ("b", utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    ]


def test_handoff_at_a_skipped_time_is_the_jump_and_at_a_repeated_time_the_first() -> None:
    spring = layer(handoff=time(2, 30), start=date(2026, 3, 7))
    schedule = Schedule(NEW_YORK, (spring,))
    assert boundary(spring, 0, NEW_YORK) == utc(2026, 3, 7, 7, 30)  # 02:30 EST
    assert boundary(spring, 1, NEW_YORK) == utc(2026, 3, 8, 7, 0)  # the jump, 03:00 EDT
    assert boundary(spring, 2, NEW_YORK) == utc(2026, 3, 9, 6, 30)  # 02:30 EDT
    assert oncall_at(schedule, utc(2026, 3, 8, 6, 59, 59)) == "a"
    assert oncall_at(schedule, utc(2026, 3, 8, 7, 0)) == "b"

    fall = layer(handoff=time(1, 30), start=date(2026, 10, 31))
    assert boundary(fall, 1, NEW_YORK) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first one
    assert boundary(fall, 2, NEW_YORK) == utc(2026, 11, 2, 6, 30)  # 01:30 EST


def test_sydney_weekly_rotation_at_midnight_across_both_changes() -> None:
    weekly = layer("xyz", unit="weeks", handoff=time(0), start=date(2026, 3, 30))  # a Monday
    schedule = Schedule(SYDNEY, (weekly,))
    found = shifts(schedule, utc(2026, 3, 29, 13), utc(2026, 4, 12, 14))
    # AEDT (+11) until Sunday 5 April 03:00, then AEST (+10): that week is an hour longer.
    assert spans(found) == [
        ("x", utc(2026, 3, 29, 13), utc(2026, 4, 5, 14)),
        ("y", utc(2026, 4, 5, 14), utc(2026, 4, 12, 14)),
    ]
    october = shifts(schedule, utc(2026, 9, 27, 14), utc(2026, 10, 11, 13))
    assert [(s.start, s.end) for s in october] == [
        (utc(2026, 9, 27, 14), utc(2026, 10, 4, 13)),  # AEST -> AEDT on Sunday 4 October: 1 hour shorter
        (utc(2026, 10, 4, 13), utc(2026, 10, 11, 13)),
    ]


def test_hour_shifts_are_absolute_hours() -> None:
    twelve = layer(unit="hours", length=12, handoff=time(8), start=date(2026, 3, 28))
    schedule = Schedule(BERLIN, (twelve,))
    found = shifts(schedule, utc(2026, 3, 28, 7), utc(2026, 3, 30, 7))
    assert [s.end - s.start for s in found] == [hours(12)] * 4
    # 08:00 CET on the 28th; after the change the local handoffs are 09:00 and 21:00.
    assert found[2].start.astimezone(BERLIN).time() == time(9)


def test_leap_day_takes_its_turn() -> None:
    three = layer("abc", handoff=time(0), start=date(2028, 2, 27))
    schedule = Schedule(ZoneInfo("UTC"), (three,))
    assert oncall_at(schedule, utc(2028, 2, 28, 12)) == "b"
    assert oncall_at(schedule, utc(2028, 2, 29, 12)) == "c"
    assert oncall_at(schedule, utc(2028, 3, 1, 12)) == "a"
    weekly = layer(unit="weeks", handoff=time(0), start=date(2028, 2, 29))
    assert boundary(weekly, 1, ZoneInfo("UTC")) == utc(2028, 3, 7)


def test_nobody_before_the_first_shift() -> None:
    schedule = Schedule(BERLIN, (layer(),))
    assert oncall_at(schedule, utc(2026, 3, 27, 7, 59)) is None
    assert spans(shifts(schedule, utc(2026, 3, 27), utc(2026, 3, 27, 9))) == [
        ("a", utc(2026, 3, 27, 8), utc(2026, 3, 27, 9))
    ]


def test_restricted_top_layer_lets_the_lower_one_show_through() -> None:
    office = Window(WEEKDAYS, hours(9), hours(18))
    day = layer(
        "d", unit="weeks", handoff=time(0), start=date(2026, 3, 23), restrictions=(office,), name="day"
    )
    schedule = Schedule(BERLIN, (layer(), day))
    found = shifts(schedule, utc(2026, 3, 27, 0), utc(2026, 3, 30, 18))
    assert spans(found) == [
        ("d", utc(2026, 3, 27, 8), utc(2026, 3, 27, 17)),  # Friday 09:00-18:00 CET
        ("a", utc(2026, 3, 27, 17), utc(2026, 3, 28, 8)),
        ("b", utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),  # the weekend: the rotation below
        ("a", utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
        ("d", utc(2026, 3, 30, 7), utc(2026, 3, 30, 16)),  # Monday 09:00-18:00 CEST
        ("b", utc(2026, 3, 30, 16), utc(2026, 3, 30, 18)),
    ]
    assert oncall_at(schedule, utc(2026, 3, 28, 12)) == "b"
    assert oncall_at(schedule, utc(2026, 3, 30, 15, 59)) == "d"


def test_a_restricted_layer_alone_has_gaps() -> None:
    nights = (
        Window(frozenset(range(7)), hours(22), hours(24)),
        Window(frozenset(range(7)), hours(0), hours(6)),
    )
    schedule = Schedule(BERLIN, (layer("n", restrictions=nights),))
    found = shifts(schedule, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    # 22:00 CET to 06:00 CEST: the night the clocks go forward is 7 hours, one shift.
    assert spans(found) == [("n", utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))]
    assert oncall_at(schedule, utc(2026, 3, 29, 5)) is None


def test_overrides_win_and_the_later_of_two_wins() -> None:
    overrides = (
        Override("x", utc(2026, 3, 28, 10), utc(2026, 3, 28, 14)),
        Override("y", utc(2026, 3, 28, 12), utc(2026, 3, 28, 13)),
    )
    schedule = Schedule(BERLIN, (layer(),), overrides)
    found = shifts(schedule, utc(2026, 3, 28, 8), utc(2026, 3, 29, 7))
    assert spans(found) == [
        ("b", utc(2026, 3, 28, 8), utc(2026, 3, 28, 10)),
        ("x", utc(2026, 3, 28, 10), utc(2026, 3, 28, 12)),
        ("y", utc(2026, 3, 28, 12), utc(2026, 3, 28, 13)),
        ("x", utc(2026, 3, 28, 13), utc(2026, 3, 28, 14)),
        ("b", utc(2026, 3, 28, 14), utc(2026, 3, 29, 7)),
    ]
    assert found[1].sources == ("override",)
    assert oncall_at(schedule, utc(2026, 3, 28, 12, 30)) == "y"


def test_adjacent_pieces_of_one_user_merge() -> None:
    # b is on call on the 28th; an override hands b the evening before too.
    cover = Override("b", utc(2026, 3, 27, 20), utc(2026, 3, 28, 8))
    schedule = Schedule(BERLIN, (layer("ab"),), (cover,))
    found = shifts(schedule, utc(2026, 3, 27, 8), utc(2026, 3, 29, 7))
    assert spans(found) == [
        ("a", utc(2026, 3, 27, 8), utc(2026, 3, 27, 20)),
        ("b", utc(2026, 3, 27, 20), utc(2026, 3, 29, 7)),
    ]
    assert found[1].sources == ("override", "primary")
    # One participant: one shift however many handoffs.
    alone = Schedule(BERLIN, (layer("a"),))
    assert spans(shifts(alone, utc(2026, 3, 27, 8), utc(2026, 4, 3, 7))) == [
        ("a", utc(2026, 3, 27, 8), utc(2026, 4, 3, 7))
    ]


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="shift_length"):
        layer(length=0)
    with pytest.raises(ValueError, match="ends after it starts"):
        Window(WEEKDAYS, hours(18), hours(9))
    with pytest.raises(ValueError, match="ends after it starts"):
        Override("x", utc(2026, 1, 2), utc(2026, 1, 1))
    with pytest.raises(ValueError, match="time zone"):
        oncall_at(Schedule(BERLIN), datetime(2026, 1, 1))


def test_windows_near_a_change_at_midnight() -> None:
    # Santiago turns its clocks back at Sunday 00:00 to Saturday 23:00: a
    # Saturday window to 24:00 holds the repeated hour, 5 hours in all; in
    # September it skips Sunday 00:00-01:00, and Sunday's window starts at 01:00.
    santiago = ZoneInfo("America/Santiago")
    evening = Window(frozenset({5}), hours(20), hours(24))
    small_hours = Window(frozenset({6}), hours(0), hours(6))
    schedule = Schedule(santiago, (layer("s", start=date(2026, 4, 1), restrictions=(evening, small_hours)),))
    assert local_instant(datetime(2026, 4, 5, 0, 0), santiago) == utc(2026, 4, 5, 4)
    assert oncall_at(schedule, utc(2026, 4, 5, 3, 30)) == "s"  # Saturday 23:30, the second time
    assert spans(shifts(schedule, utc(2026, 4, 4), utc(2026, 4, 6))) == [
        ("s", utc(2026, 4, 4, 23), utc(2026, 4, 5, 10))  # Saturday 20:00 -03 to Sunday 06:00 -04
    ]
    september = shifts(schedule, utc(2026, 9, 5), utc(2026, 9, 7))
    assert spans(september) == [("s", utc(2026, 9, 6, 0), utc(2026, 9, 6, 9))]  # 20:00 -04 to 06:00 -03
    assert september[0].end - september[0].start == hours(9)
