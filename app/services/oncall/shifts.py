"""Who is on call, computed from a schedule: pure, exact, no I/O.

A schedule has a time zone, rotation layers and overrides. A layer hands a
shift to each of its participants in turn; where its restrictions say it is
off, it has nobody. Layers stack: the last layer of the list is on top, and
wherever it has someone it wins; where it has nobody the layer below shows
through. An override ("X covers from A to B") wins over every layer; of two
overlapping overrides the later one in the list wins.

Time, the decisions this module makes:

- Instants are aware datetimes; answers are in UTC. Arithmetic is done on
  UTC values only (Python's arithmetic on two datetimes of one ZoneInfo is
  wall-clock arithmetic, which is wrong across a DST change).
- Shift lengths in days or weeks are calendar days in the schedule's zone:
  a daily handoff at 09:00 Europe/Berlin is at 09:00 local every day, so the
  shift over a DST change lasts 23 or 25 hours. Shift lengths in hours are
  absolute: a 12-hour rotation is 12 real hours, and its local handoff time
  moves by an hour across a DST change (handoffs that must stay at 08:00 and
  20:00 are two daily layers restricted to 08:00-20:00 and 20:00-24:00 +
  00:00-08:00).
- A local time becomes an instant by `local_instant`: the first instant at
  which the zone's clock shows that time or later. A time that happens twice
  (the hour repeated when clocks go back) is its first occurrence; a time
  that never happens (the hour skipped when clocks go forward) is the moment
  of the jump: a handoff at 02:30 Berlin on the last Sunday of March is at
  03:00 CEST. The mapping never goes backwards, so no shift or window can
  have a negative length.
- A restriction window on a local day is [its start, its end) mapped that
  way; its end may be 24:00 (the next day's 00:00). Windows spanning
  midnight are two windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Unit = Literal["hours", "days", "weeks"]
UNITS: tuple[Unit, ...] = ("hours", "days", "weeks")
OVERRIDE = "override"
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Window:
    """When a restricted layer is on: on each local day whose weekday (0 =
    Monday ... 6 = Sunday) is in `weekdays`, from `start` to `end`, both
    measured from local midnight (0 <= start < end <= 24 h)."""

    weekdays: frozenset[int]
    start: timedelta
    end: timedelta

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.start < self.end <= DAY:
            raise ValueError(f"a window runs from 00:00 to 24:00 and ends after it starts: {self}")
        if not self.weekdays <= set(range(7)):
            raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday): {sorted(self.weekdays)}")


@dataclass(frozen=True, slots=True)
class Layer:
    """A rotation: `participants` in turn, each for `shift_length` `shift_unit`,
    the first shift starting on `start_date` at `handoff` (local time)."""

    name: str
    participants: tuple[str, ...]
    shift_length: int
    shift_unit: Unit
    handoff: time
    start_date: date
    restrictions: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        if self.shift_length <= 0:
            raise ValueError(f"shift_length must be positive: {self.shift_length}")
        if self.shift_unit not in UNITS:
            raise ValueError(f"shift_unit is one of {UNITS}: {self.shift_unit!r}")
        if self.handoff.tzinfo is not None:
            raise ValueError("handoff is a local time of day, without a zone")


@dataclass(frozen=True, slots=True)
class Override:
    """`user` is on call from `start` to `end`, whatever the layers say."""

    user: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("an override's start and end need a time zone")
        if self.end <= self.start:
            raise ValueError("an override ends after it starts")


@dataclass(frozen=True, slots=True)
class Schedule:
    zone: ZoneInfo
    layers: tuple[Layer, ...] = ()  # bottom first: the last one is on top
    overrides: tuple[Override, ...] = ()  # the last one wins where two overlap


@dataclass(frozen=True, slots=True)
class Shift:
    """`user` on call over [start, end), in UTC. `sources` names why, in time
    order: layer names and/or "override" (adjacent pieces of one user from
    different sources are one shift)."""

    user: str
    start: datetime
    end: datetime
    sources: tuple[str, ...] = field(default=())


# --- local time -> instant ------------------------------------------------------------


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"an instant needs a time zone: {instant.isoformat()}")
    return instant.astimezone(UTC)


def local_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at which the clock in `zone` shows `local` (naive)
    or a later time: the first occurrence of a repeated time, the moment of
    the jump for a skipped one. In UTC."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first  # it happens: fold=0 is its first occurrence
    # Skipped. fold=0 read it with the offset from before the jump, which
    # lands past the jump; fold=1 with the offset after it, which lands
    # before. The jump lies between them, on a whole second (tz data).
    before = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = math.floor(before.timestamp()), math.ceil(first.timestamp())
    old = _offset(lo, zone)
    while hi - lo > 1:  # invariant: the offset at lo is the old one, at hi the new one
        mid = (lo + hi) // 2
        if _offset(mid, zone) == old:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def _offset(timestamp: int, zone: ZoneInfo) -> timedelta | None:
    # Not zone.utcoffset(an UTC datetime): that reads the datetime as local time.
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).utcoffset()


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return _utc(instant).astimezone(zone).date()


# --- one layer ------------------------------------------------------------------------


def _handoff_on(layer: Layer, day: date, zone: ZoneInfo) -> datetime:
    return local_instant(datetime.combine(day, layer.handoff), zone)


def boundary(layer: Layer, k: int, zone: ZoneInfo) -> datetime:
    """The start of shift k (shift 0 is the first)."""
    if layer.shift_unit == "hours":
        return _handoff_on(layer, layer.start_date, zone) + timedelta(hours=k * layer.shift_length)
    days = layer.shift_length * (7 if layer.shift_unit == "weeks" else 1)
    return _handoff_on(layer, layer.start_date + timedelta(days=k * days), zone)


def shift_index(layer: Layer, instant: datetime, zone: ZoneInfo) -> int | None:
    """The shift of the rotation that holds `instant`; None before the first."""
    instant = _utc(instant)
    first = boundary(layer, 0, zone)
    if instant < first:
        return None
    if layer.shift_unit == "hours":
        return (instant - first) // timedelta(hours=layer.shift_length)
    days = layer.shift_length * (7 if layer.shift_unit == "weeks" else 1)
    k = max(0, (local_date(instant, zone) - layer.start_date).days // days)
    # The local date is off by at most one shift near a handoff: step to it.
    while boundary(layer, k + 1, zone) <= instant:
        k += 1
    while boundary(layer, k, zone) > instant:
        k -= 1
    return k


def _windows_on(layer: Layer, day: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    midnight = datetime.combine(day, time())
    for window in layer.restrictions:
        if day.weekday() in window.weekdays:
            start = local_instant(midnight + window.start, zone)
            end = local_instant(midnight + window.end, zone)
            if start < end:
                yield start, end


def in_restrictions(layer: Layer, instant: datetime, zone: ZoneInfo) -> bool:
    """Whether the layer is on at `instant` (always, without restrictions)."""
    if not layer.restrictions:
        return True
    instant = _utc(instant)
    day = local_date(instant, zone)
    # A window belongs to a local day; look one day either side too, so that
    # a zone whose clock jumps across midnight cannot hide one.
    return any(
        start <= instant < end
        for offset in (-1, 0, 1)
        for start, end in _windows_on(layer, day + timedelta(days=offset), zone)
    )


def layer_user_at(layer: Layer, instant: datetime, zone: ZoneInfo) -> str | None:
    if not layer.participants or not in_restrictions(layer, instant, zone):
        return None
    k = shift_index(layer, instant, zone)
    return None if k is None else layer.participants[k % len(layer.participants)]


def oncall_at(schedule: Schedule, instant: datetime) -> str | None:
    """Who is on call at `instant`: the last override covering it, else the
    top layer that has someone then, else nobody."""
    instant = _utc(instant)
    for override in reversed(schedule.overrides):
        if _utc(override.start) <= instant < _utc(override.end):
            return override.user
    for layer in reversed(schedule.layers):
        user = layer_user_at(layer, instant, schedule.zone)
        if user is not None:
            return user
    return None


# --- a range: pieces, painted layer over layer ------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    start: datetime
    end: datetime
    user: str
    source: str


def _rotation(layer: Layer, start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[_Piece]:
    if not layer.participants:
        return
    k = shift_index(layer, start, zone)
    if k is None:
        k, start = 0, boundary(layer, 0, zone)
    lo = start
    while lo < end:
        hi = boundary(layer, k + 1, zone)
        user = layer.participants[k % len(layer.participants)]
        yield _Piece(lo, min(hi, end), user, layer.name)
        lo, k = hi, k + 1


def _restriction_spans(
    layer: Layer, start: datetime, end: datetime, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The layer's on-windows within [start, end), sorted and disjoint."""
    spans: list[tuple[datetime, datetime]] = []
    day = local_date(start, zone) - DAY
    last = local_date(end, zone) + DAY
    while day <= last:
        spans.extend(_windows_on(layer, day, zone))
        day += DAY
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        lo, hi = max(lo, start), min(hi, end)
        if lo >= hi:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _clip(pieces: Iterable[_Piece], spans: Sequence[tuple[datetime, datetime]]) -> list[_Piece]:
    """The parts of `pieces` inside `spans` (both sorted and disjoint)."""
    out: list[_Piece] = []
    i = 0
    for piece in pieces:
        while i < len(spans) and spans[i][1] <= piece.start:
            i += 1
        j = i
        while j < len(spans) and spans[j][0] < piece.end:
            lo, hi = max(piece.start, spans[j][0]), min(piece.end, spans[j][1])
            if lo < hi:
                out.append(_Piece(lo, hi, piece.user, piece.source))
            j += 1
    return out


def _layer_pieces(layer: Layer, start: datetime, end: datetime, zone: ZoneInfo) -> list[_Piece]:
    pieces = _rotation(layer, start, end, zone)
    if not layer.restrictions:
        return list(pieces)
    return _clip(pieces, _restriction_spans(layer, start, end, zone))


def _overlay(base: list[_Piece], top: list[_Piece]) -> list[_Piece]:
    """`top` painted over `base` (each sorted and disjoint): sorted, disjoint."""
    out: list[_Piece] = []
    i = 0
    for piece in base:
        lo = piece.start
        while i < len(top) and top[i].end <= lo:
            i += 1
        j = i
        while j < len(top) and top[j].start < piece.end:
            if top[j].start > lo:
                out.append(_Piece(lo, top[j].start, piece.user, piece.source))
            lo = max(lo, top[j].end)
            j += 1
        if lo < piece.end:
            out.append(_Piece(lo, piece.end, piece.user, piece.source))
    out.extend(top)
    out.sort(key=lambda p: p.start)
    return out


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Who is on call over [start, end): sorted, non-overlapping shifts, clipped
    to the range, adjacent pieces of one user merged; gaps where nobody is."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    painted: list[_Piece] = []
    for layer in schedule.layers:
        painted = _overlay(painted, _layer_pieces(layer, start, end, schedule.zone))
    for override in schedule.overrides:
        lo, hi = max(_utc(override.start), start), min(_utc(override.end), end)
        if lo < hi:
            painted = _overlay(painted, [_Piece(lo, hi, override.user, OVERRIDE)])
    merged: list[Shift] = []
    for piece in painted:
        last = merged[-1] if merged else None
        if last is not None and last.user == piece.user and last.end == piece.start:
            sources = last.sources if last.sources[-1] == piece.source else (*last.sources, piece.source)
            merged[-1] = Shift(last.user, last.start, piece.end, sources)
        else:
            merged.append(Shift(piece.user, piece.start, piece.end, (piece.source,)))
    return merged
