"""A schedule's shifts laid out day by day, for the console's schedule page.

The shifts come from services/oncall (shifts.py computes them; nothing here
decides who is on call): this module only cuts them at the local midnights
of the schedule's zone and says where each piece sits on its day, in
percent of that day's real length. A day is [its local midnight, the next
one), mapped to instants by shifts.local_instant, so a day of the spring
change lasts 23 hours and one of the autumn change 25: an hour is as wide on
those days as on any other, and the row says how long its day is. The hour
marks are drawn at the instants the local clock shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.oncall_schemas import ShiftRead
from app.services.oncall.shifts import local_instant

DAYS = 14
TICK_HOURS = (0, 3, 6, 9, 12, 15, 18, 21)
COLOURS = 8  # .person-0 ... .person-7 in the stylesheet


@dataclass(frozen=True, slots=True)
class Bar:
    """One shift's piece within one day."""

    shift: ShiftRead
    start: datetime  # local, clipped to the day
    end: datetime
    left: float  # percent of the day
    width: float
    colour: int
    now: bool  # the shift on call now
    continued: bool  # the shift began on an earlier day
    continues: bool  # and goes on into the next


@dataclass(frozen=True, slots=True)
class Tick:
    label: str  # "06"
    left: float


@dataclass(frozen=True, slots=True)
class Day:
    date: date
    start: datetime  # UTC
    end: datetime
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    now_at: float | None  # percent of the day where now is, if it is this day

    @property
    def hours(self) -> float:
        return (self.end - self.start) / timedelta(hours=1)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """When `day` begins in `zone` (UTC): its local 00:00, or the first
    instant after it where a zone's clock skips midnight."""
    return local_instant(datetime.combine(day, time()), zone)


def range_of(first: date, zone: ZoneInfo, days: int = DAYS) -> tuple[datetime, datetime]:
    return midnight(first, zone), midnight(first + timedelta(days=days), zone)


def _percent(instant: datetime, start: datetime, length: timedelta) -> float:
    return round(100 * ((instant - start) / length), 3)


def colours(shifts: list[ShiftRead]) -> dict[str, int]:
    """A colour per person on the page, in the order of their names (so two
    people of one page differ, for up to COLOURS people)."""
    names = sorted({shift.user.name for shift in shifts})
    return {name: i % COLOURS for i, name in enumerate(names)}


def lay_out(
    shifts: list[ShiftRead],
    *,
    first: date,
    zone: ZoneInfo,
    now: datetime,
    days: int = DAYS,
) -> list[Day]:
    """The days from `first` on, each with the pieces of the shifts it holds."""
    palette = colours(shifts)
    out: list[Day] = []
    for n in range(days):
        day = first + timedelta(days=n)
        start, end = midnight(day, zone), midnight(day + timedelta(days=1), zone)
        length = end - start
        bars = []
        for shift in shifts:
            lo, hi = max(shift.start, start), min(shift.end, end)
            if lo >= hi:
                continue
            bars.append(
                Bar(
                    shift=shift,
                    start=lo.astimezone(zone),
                    end=hi.astimezone(zone),
                    left=_percent(lo, start, length),
                    width=_percent(hi, lo, length),
                    colour=palette[shift.user.name],
                    now=shift.start <= now < shift.end,
                    continued=shift.start < start,
                    continues=shift.end > end,
                )
            )
        ticks: list[Tick] = []
        for hour in TICK_HOURS:
            at = local_instant(datetime.combine(day, time(hour)), zone)
            if start <= at < end and not any(tick.left == _percent(at, start, length) for tick in ticks):
                ticks.append(Tick(f"{hour:02d}", _percent(at, start, length)))
        now_at = _percent(now, start, length) if start <= now < end else None
        out.append(Day(day, start, end, tuple(bars), tuple(ticks), now_at))
    return out


def clock(instant: datetime, day_end: datetime | None = None) -> str:
    """A local time of day; the end of a day reads 24:00."""
    if day_end is not None and instant == day_end:
        return "24:00"
    return instant.strftime("%H:%M")


def span(seconds: float) -> str:
    """How long: `45 min`, `8 h`, `23 h`, `4 h 30 min`, `7 d 1 h`."""
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        days, hours = divmod(hours, 24)
        text = f"{days} d" + (f" {hours} h" if hours else "")
        return text + (f" {minutes} min" if minutes else "")
    return f"{hours} h" + (f" {minutes} min" if minutes else "")
