"""Charts as inline SVG, drawn on the server: no script, nothing from
another host. This module only does the geometry: it turns series into
marks (rectangles, paths, points), ticks and a legend, in the coordinates of
a fixed viewBox that the stylesheet scales to the page's width. The
template (stats.html) writes the SVG elements, so every text, alert types
and sources included, is escaped by Jinja like the rest of the page.

Colours are classes (`sev-critical`, `lvl-3`, `s-median`...) that
console.css maps to its palette. Every mark carries a <title> (its value on
hover) and data-series / data-at / data-value (what tests read); the chart
carries a text alternative for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WIDTH = 640
TIME_HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 30, 24  # room for tick labels and the legend
LABELS = 150  # width of a ranked chart's labels
LABEL_CHARS = 24

Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    css: str  # the class that gives its colour
    values: Sequence[float | None]


@dataclass(frozen=True, slots=True)
class Mark:
    """A bar (x, y, width, height) or a point (x, y; width and height 0)."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    series: str
    at: str  # the bucket's start or the row's label
    value: float


@dataclass(frozen=True, slots=True)
class Line:
    d: str
    css: str
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float
    text: str
    css: str = ""
    anchor: str = "start"
    title: str = ""


@dataclass(frozen=True, slots=True)
class Key:
    x: float
    css: str
    label: str
    line: bool = False
    dashed: bool = False


@dataclass
class Chart:
    testid: str
    heading: str
    summary: str  # the caption under it
    description: str  # the text alternative, for screen readers
    height: float
    left: float
    top: float
    right: float
    bottom: float
    width: float = WIDTH
    bars: list[Mark] = field(default_factory=list)
    points: list[Mark] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)  # horizontal grid lines
    x_ticks: list[Tick] = field(default_factory=list)  # vertical ticks and labels
    texts: list[Text] = field(default_factory=list)
    legend: list[Key] = field(default_factory=list)
    empty: str | None = None  # what to say instead of marks


def count(value: float) -> str:
    return f"{value:,.0f}"


def percent(value: float) -> str:
    if value == 0:
        return "0 %"
    return f"{value * 100:.1f} %" if value < 0.1 else f"{value * 100:.0f} %"


def nice_ticks(top: float, *, integer: bool = False, count: int = 4) -> list[float]:
    """0 and a few round steps (1, 2, 2.5 or 5 x 10^n) up to at least `top`."""
    top = top if top > 0 else 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


# Tick spacings for a time axis, the smallest giving at most 7 labels.
_TICK_SECONDS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400, 172800, 432000)


def _time_ticks(starts: Sequence[datetime], step: timedelta, x_of: Callable[[int], float]) -> list[Tick]:
    span = (starts[-1] - starts[0]).total_seconds() + step.total_seconds()
    spacing = next((s for s in _TICK_SECONDS if span / s <= 7), _TICK_SECONDS[-1])
    spacing = max(spacing, int(step.total_seconds()))
    ticks = []
    for i, start in enumerate(starts):
        if int(start.timestamp()) % spacing == 0:
            midnight = start.hour == 0 and start.minute == 0
            label = (
                start.strftime("%d %b")
                if spacing >= 86400 or (midnight and span > 86400)
                else start.strftime("%H:%M")
            )
            ticks.append(Tick(x_of(i), label))
    return ticks


def bucket_label(start: datetime, step: timedelta) -> str:
    end = start + step
    if step >= timedelta(days=1):
        return f"{start:%d %b %Y} UTC"
    return f"{start:%d %b %H:%M}\u2013{end:%H:%M} UTC"


def _frame(
    testid: str, heading: str, summary: str, description: str, height: float, left: float = LEFT
) -> Chart:
    return Chart(
        testid=testid,
        heading=heading,
        summary=summary,
        description=description,
        height=height,
        left=left,
        top=TOP,
        right=WIDTH - RIGHT,
        bottom=height - BOTTOM,
    )


def _legend(series: Sequence[Series], *, line: bool = False) -> list[Key]:
    keys: list[Key] = []
    for one in series:
        keys.append(Key(_after(keys[-1]) if keys else LEFT, one.css, one.name, line))
    return keys


def _after(key: Key) -> float:
    """Where the legend's next entry starts: past this one's swatch and name."""
    return key.x + 28 + 7 * len(key.label)


def _y_axis(chart: Chart, ticks: list[float], fmt: Format) -> Callable[[float], float]:
    top = ticks[-1] if ticks[-1] > 0 else 1.0

    def y_of(value: float) -> float:
        return round(chart.bottom - (chart.bottom - chart.top) * value / top, 1)

    chart.y_ticks = [Tick(y_of(t), fmt(t)) for t in ticks]
    return y_of


def time_bars(
    testid: str,
    heading: str,
    summary: str,
    description: str,
    *,
    starts: Sequence[datetime],
    step: timedelta,
    series: Sequence[Series],
    fmt: Format = count,
    empty: str = "Nothing in this window.",
) -> Chart:
    """Stacked bars, one per bucket, the first series at the bottom."""
    chart = _frame(testid, heading, summary, description, TIME_HEIGHT)
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(starts))]
    y_of = _y_axis(chart, nice_ticks(max(totals, default=0), integer=True), fmt)
    slot = (chart.right - chart.left) / max(len(starts), 1)

    def x_of(i: int) -> float:
        return round(chart.left + slot * i, 1)

    chart.x_ticks = _time_ticks(starts, step, x_of)
    chart.legend = _legend(series)
    for i, start in enumerate(starts):
        base = 0.0
        for one in series:
            value = one.values[i] or 0
            if value <= 0:
                continue
            y_top, y_base = y_of(base + value), y_of(base)
            chart.bars.append(
                Mark(
                    x=round(x_of(i) + slot * 0.1, 1),
                    y=y_top,
                    width=round(slot * 0.8, 1),
                    height=round(max(y_base - y_top, 0.5), 1),
                    css=one.css,
                    title=f"{bucket_label(start, step)} \u00b7 {one.name}: {fmt(value)}",
                    series=one.name,
                    at=start.isoformat(),
                    value=value,
                )
            )
            base += value
    if not chart.bars:
        chart.empty = empty
    return chart


def time_lines(
    testid: str,
    heading: str,
    summary: str,
    description: str,
    *,
    starts: Sequence[datetime],
    step: timedelta,
    series: Sequence[Series],
    fmt: Format,
    tick_fmt: Format | None = None,
    notes: Sequence[str] | None = None,
    top: float | None = None,
    reference: tuple[str, float] | None = None,
    empty: str = "Nothing in this window.",
) -> Chart:
    """A line per series through the buckets' middles, broken where a
    bucket has no value; `notes` add to each bucket's hover text;
    `reference` draws a dashed level (its name and value) across;
    `tick_fmt` writes the axis' round values (`fmt` by default)."""
    chart = _frame(testid, heading, summary, description, TIME_HEIGHT)
    highest = max((v for s in series for v in s.values if v is not None), default=0.0)
    ticks = nice_ticks(top if top is not None else highest)
    y_of = _y_axis(chart, ticks, tick_fmt or fmt)
    slot = (chart.right - chart.left) / max(len(starts), 1)
    chart.x_ticks = _time_ticks(starts, step, lambda i: round(chart.left + slot * i, 1))
    chart.legend = _legend(series, line=True)
    for one in series:
        path: list[str] = []
        moving = False
        for i, (start, value) in enumerate(zip(starts, one.values, strict=True)):
            if value is None:
                moving = False
                continue
            x, y = round(chart.left + slot * (i + 0.5), 1), y_of(value)
            path.append(f"{'L' if moving else 'M'}{x} {y}")
            moving = True
            note = f" ({notes[i]})" if notes and notes[i] else ""
            chart.points.append(
                Mark(x, y, 0, 0, one.css, f"{bucket_label(start, step)} \u00b7 {one.name}: {fmt(value)}{note}",
                     one.name, start.isoformat(), value)
            )  # fmt: skip
        if path:
            chart.lines.append(Line(" ".join(path), one.css))
    if reference is not None and chart.points:
        name, value = reference
        y = y_of(value)
        chart.lines.append(Line(f"M{chart.left} {y} L{chart.right} {y}", "reference", dashed=True))
        label = f"{name} {fmt(value)}"
        chart.legend.append(Key(_after(chart.legend[-1]), "reference", label, line=True, dashed=True))
    if not chart.points:
        chart.empty = empty
    return chart


def ranked_bars(
    testid: str,
    heading: str,
    summary: str,
    description: str,
    *,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Format = count,
    top: float | None = None,
    empty: str = "Nothing in this window.",
) -> Chart:
    """Horizontal bars, a row per label (top row first), one bar per series
    in each row, the value written at the bar's end."""
    bar = 9.0 if len(series) > 1 else 12.0
    row = bar * len(series) + 8
    chart = _frame(testid, heading, summary, description, TOP + row * max(len(labels), 1) + BOTTOM, LABELS)
    chart.right = WIDTH - 48  # room for the values at the bars' ends
    highest = max((v for s in series for v in s.values if v is not None), default=0.0)
    ticks = nice_ticks(top if top is not None else highest, integer=fmt is count)
    scale = (chart.right - chart.left) / (ticks[-1] or 1.0)
    chart.x_ticks = [Tick(round(chart.left + t * scale, 1), fmt(t)) for t in ticks]
    chart.legend = _legend(series) if len(series) > 1 else []
    for r, label in enumerate(labels):
        y0 = chart.top + row * r + 4
        shown = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"
        chart.texts.append(Text(LABELS - 6, round(y0 + row / 2, 1), shown, "label", "end", label))
        for k, one in enumerate(series):
            value = one.values[r]
            if value is None:
                continue
            y = round(y0 + bar * k, 1)
            length = round(max(value * scale, 0.5 if value > 0 else 0), 1)
            chart.bars.append(
                Mark(chart.left, y, length, bar - 1, one.css, f"{label} \u00b7 {one.name}: {fmt(value)}",
                     one.name, label, value)
            )  # fmt: skip
            chart.texts.append(
                Text(round(chart.left + length + 4, 1), round(y + bar - 2, 1), fmt(value), "value")
            )
    if not labels:
        chart.empty = empty
    return chart
