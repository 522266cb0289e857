"""The schedule page's day-by-day layout (app/ui/timeline.py) of shifts that
services/oncall/shifts.py computes: local days of 23 and 25 hours, bars in
proportion to real time, pieces of one shift across midnight, now."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.oncall_schemas import ShiftRead, UserRef
from app.services.oncall import shifts as rota
from app.ui.timeline import clock, lay_out, range_of, span

BERLIN = ZoneInfo("Europe/Berlin")
PEOPLE = {name: UserRef(id=uuid.uuid4(), name=name, full_name=None) for name in ("alice", "bob")}


def daily(start_date: date, handoff: time = time(9)) -> rota.Schedule:
    layer = rota.Layer("daily", ("alice", "bob"), 1, "days", handoff, start_date)
    return rota.Schedule(zone=BERLIN, layers=(layer,))


def computed(schedule: rota.Schedule, first: date) -> list[ShiftRead]:
    start, end = range_of(first, schedule.zone)
    return [
        ShiftRead(user=PEOPLE[s.user], start=s.start, end=s.end, sources=list(s.sources))
        for s in rota.shifts(schedule, start, end)
    ]


@pytest.mark.parametrize(
    ("first", "change", "hours", "before_nine"),
    [
        (date(2027, 3, 23), date(2027, 3, 28), 23, 8),  # 00:00 CET to 09:00 CEST: 8 hours
        (date(2027, 10, 26), date(2027, 10, 31), 25, 10),  # 00:00 CEST to 09:00 CET: 10 hours
    ],
)
def test_a_day_of_a_dst_change_is_as_long_as_it_lasts(
    first: date, change: date, hours: int, before_nine: int
) -> None:
    days = lay_out(
        computed(daily(first), first), first=first, zone=BERLIN, now=datetime(2000, 1, 1, tzinfo=UTC)
    )
    assert [d.date for d in days] == [first + timedelta(days=n) for n in range(14)]
    assert {d.date: d.hours for d in days if d.hours != 24} == {change: hours}
    [day] = [d for d in days if d.date == change]
    morning, rest = day.bars
    # The shift from Saturday 09:00 to Sunday 09:00 lasts 23 (25) hours; on
    # Sunday its piece is as wide as the real hours it lasts there.
    assert (morning.shift.end - morning.shift.start) == timedelta(hours=hours)
    assert morning.continued and not morning.continues
    assert morning.left == 0 and morning.width == pytest.approx(100 * before_nine / hours, abs=0.001)
    assert rest.left == pytest.approx(morning.width, abs=0.001) and rest.continues
    assert morning.width + rest.width == pytest.approx(100, abs=0.002)
    assert (clock(morning.start), clock(morning.end, day.end)) == ("00:00", "09:00")
    assert (clock(rest.start), clock(rest.end, day.end)) == ("09:00", "24:00")
    # The hour marks sit where the local clock shows them: 03:00 is two
    # real hours after midnight in spring (02:00 is skipped), four in autumn.
    marks = {tick.label: tick.left for tick in day.ticks}
    assert marks["03"] == pytest.approx(100 * (2 if hours == 23 else 4) / hours, abs=0.001)
    assert marks["09"] == pytest.approx(morning.width, abs=0.001)


def test_each_day_holds_the_pieces_of_its_shifts_and_now_is_marked() -> None:
    first = date(2027, 1, 4)
    now = datetime(2027, 1, 6, 7, 0, tzinfo=UTC)  # 08:00 Berlin on the 6th: before the handoff
    shifts = computed(daily(date(2027, 1, 5)), first)
    days = lay_out(shifts, first=first, zone=BERLIN, now=now)
    assert days[0].bars == ()  # before the layer's first shift: nobody
    assert [(b.shift.user.name, clock(b.start), clock(b.end, days[1].end)) for b in days[1].bars] == [
        ("alice", "09:00", "24:00")
    ]
    on_the_6th = days[2]
    assert [b.shift.user.name for b in on_the_6th.bars] == ["alice", "bob"]
    assert [b.now for b in on_the_6th.bars] == [True, False]
    assert days[1].bars[0].now  # the same shift, its piece of the day before
    assert on_the_6th.now_at == pytest.approx(100 * 8 / 24, abs=0.001)
    assert [d.now_at for d in days if d is not on_the_6th] == [None] * 13
    assert {b.colour for d in days for b in d.bars if b.shift.user.name == "alice"} == {0}
    assert {b.colour for d in days for b in d.bars if b.shift.user.name == "bob"} == {1}


def test_spans_read_as_people_say_them() -> None:
    assert [span(s) for s in (45 * 60, 8 * 3600, 23 * 3600, 4.5 * 3600, 169 * 3600, 48 * 3600 + 60)] == [
        "45 min", "8 h", "23 h", "4 h 30 min", "7 d 1 h", "2 d 1 min",
    ]  # fmt: skip
