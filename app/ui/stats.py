"""The console's stats page: the last hour, day, week or month in charts.

Thin, like the other pages: read the query, ask services/trends.py for the
window's figures (the caller's scope and team confine them exactly as on
GET /stats: `read`, and a key of one team sees its team's figures only),
turn them into charts (charts.py) and render. Every chart has a heading, a
short caption and a text alternative saying what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.auth import team_to_read
from app.api.deps import NowDep, SessionmakerDep, SettingsDep
from app.db import transaction
from app.errors import InvalidInput
from app.services import trends
from app.settings import SEVERITIES
from app.ui.alerts import ConsoleCaller
from app.ui.charts import Chart, Series, percent, ranked_bars, time_bars, time_lines
from app.ui.routing import ConsoleRoute
from app.ui.templating import duration, render

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=ConsoleRoute)

DEFAULT_SPAN = "24h"
RANKS = {"occurrences": "occurrences", "alerts": "alerts"}
SPAN_NAMES = {"1h": "last hour", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}


@router.get("/stats", response_class=HTMLResponse)
async def stats_page(
    request: Request,
    caller: ConsoleCaller,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
    now: NowDep,
) -> HTMLResponse:
    params = request.query_params
    span = params.get("range", "").strip() or DEFAULT_SPAN
    if span not in trends.SPANS:
        raise InvalidInput(f"unknown range {span[:40]!r}: one of {', '.join(trends.SPANS)}", field="range")
    rank = params.get("rank", "").strip() or "occurrences"
    if rank not in RANKS:
        raise InvalidInput(f"unknown ranking {rank[:40]!r}", field="rank")
    asked = params.get("team", "").strip()
    if len(asked) > 64:
        raise InvalidInput("team is longer than 64 characters", field="team")
    team = team_to_read(caller, asked or None)
    length, step = trends.SPANS[span]
    window = trends.Window.ending(now, span=length, step=step)
    # A read transaction: on SQLite it takes no write lock while the figures are read.
    figures = await transaction.read(
        sessionmaker,
        lambda session: trends.compute(session, window=window, team=team, channels=list(settings.channels)),
    )
    kept = {k: v for k, v in (("team", asked), ("rank", rank if rank != "occurrences" else "")) if v}
    return await render(
        request,
        "stats.html",
        {
            "figures": figures,
            "tiles": tiles(figures),
            "charts": charts(figures, rank=rank),
            "span": span,
            "spans": {name: SPAN_NAMES[name] for name in trends.SPANS},
            "span_links": {name: urlencode({"range": name, **kept}) for name in trends.SPANS},
            "step": _step_name(step),
            "team": asked,
            "shown_team": team,
            "rank": rank,
            "ranks": RANKS,
        },
        caller=caller,
    )


def _step_name(step: timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} minutes"
    if minutes < 1440:
        return f"{minutes // 60} hours" if minutes > 60 else "hour"
    return "day"


def _minutes(value: float) -> str:
    return duration(value * 60)


def _ms(value: float) -> str:
    if value == 0:
        return "0"
    if value < 10:
        return f"{value:.1f} ms"
    return f"{value:.0f} ms" if value < 1000 else duration(value / 1000)


def tiles(figures: trends.Trends) -> list[tuple[str, str, str]]:
    """The window's headline figures: (key, label, value)."""
    rate = figures.suppression_rate
    ack, res = figures.acknowledge_overall.percentiles[0], figures.resolve_overall.percentiles[0]
    return [
        ("alerts", "alerts", f"{figures.total_alerts:,}"),
        ("occurrences", "occurrences", f"{sum(figures.occurrences):,}"),
        ("suppressed", "suppressed", percent(rate) if rate is not None else duration(None)),
        ("acknowledge", "median to acknowledge", duration(None if ack is None else ack * 60)),
        ("resolve", "median to resolve", duration(None if res is None else res * 60)),
        ("escalations", "escalations", f"{sum(sum(n) for n in figures.escalations.values()):,}"),
    ]


def charts(figures: trends.Trends, *, rank: str) -> list[Chart]:
    window = figures.window
    starts, step, per = window.starts, window.step, _step_name(window.step)
    total = figures.total_alerts
    severities = list(reversed(SEVERITIES))  # critical at the bottom of each bar
    per_bucket = [sum(figures.alerts[s][i] for s in SEVERITIES) for i in range(len(starts))]
    busiest = max(range(len(starts)), key=per_bucket.__getitem__)
    by_severity = ", ".join(f"{s} {sum(figures.alerts[s]):,}" for s in severities)
    found = [
        time_bars(
            "chart-alerts",
            "Alerts over time",
            f"{total:,} alerts, at most {per_bucket[busiest]:,} in {_a(per)}.",
            f"Alerts first seen per {per}, by severity: {total:,} in all ({by_severity})"
            + (f"; the most, {per_bucket[busiest]:,}, from {starts[busiest]:%d %b %H:%M} UTC." if total else "."),
            starts=starts,
            step=step,
            series=[Series(s, f"sev-{s}", figures.alerts[s]) for s in severities],
            empty="No alert in this window.",
        ),
        _times_chart("chart-acknowledge", "Time to acknowledge", "acknowledged",
                     figures.acknowledge, figures.acknowledge_overall, figures),
        _times_chart("chart-resolve", "Time to resolve", "resolved",
                     figures.resolve, figures.resolve_overall, figures),
    ]  # fmt: skip
    rate, submissions = figures.suppression_rate, sum(figures.occurrences)
    found.append(
        time_lines(
            "chart-suppression",
            "Suppression rate",
            f"{percent(rate)} of {submissions:,} submissions were suppressed duplicates."
            if rate is not None
            else "No submission in this window.",
            f"Suppressed duplicates as a share of all submissions, per {per}, by when the alert was first seen: "
            + (
                f"{percent(rate)} over the window ({sum(figures.suppressed):,} of {submissions:,})."
                if rate is not None
                else "no submission in this window."
            ),
            starts=starts,
            step=step,
            series=[Series("suppressed", "s-rate", figures.suppression_rates)],
            fmt=percent,
            notes=[f"{s:,} of {o:,}" for s, o in zip(figures.suppressed, figures.occurrences, strict=True)],
            top=1.0,
            reference=("overall", rate) if rate is not None else None,
            empty="No submission in this window.",
        )
    )
    levels = {lvl: sum(n) for lvl, n in figures.escalations.items()}
    escalated = ", ".join(f"level {lvl}: {n:,}" for lvl, n in levels.items())
    found.append(
        time_bars(
            "chart-escalations",
            "Escalations by level",
            f"{sum(levels.values()):,} escalations ({escalated}).",
            f"Escalations per {per}, by the level reached: {escalated}.",
            starts=starts,
            step=step,
            series=[Series(f"level {lvl}", f"lvl-{lvl}", n) for lvl, n in figures.escalations.items()],
            empty="No escalation in this window.",
        )
    )
    found += [
        _ranking("chart-types", "Noisiest alert types", "alert types", figures.types, rank),
        _ranking("chart-sources", "Noisiest sources", "sources", figures.sources, rank),
    ]
    found += _channel_charts(figures.channels)
    return found


def _a(per: str) -> str:
    return "a day" if per == "day" else "an hour" if per == "hour" else per


def _times_chart(
    testid: str,
    heading: str,
    done: str,
    spreads: Sequence[trends.Spread],
    overall: trends.Spread,
    figures: trends.Trends,
) -> Chart:
    median, p90 = overall.percentiles
    summary = (
        f"Median {_minutes(median)}, p90 {_minutes(p90)}, over {overall.count:,} alerts {done}."
        if median is not None and p90 is not None
        else f"No alert first seen in this window has been {done}."
    )
    # The axis in hours when the figures run to hours, else in minutes.
    highest = max((p for s in spreads for p in s.percentiles if p is not None), default=0.0)
    unit, name = (60.0, "h") if highest >= 120 else (1.0, "min")
    per = _step_name(figures.window.step)
    return time_lines(
        testid,
        heading,
        summary,
        f"{heading} from when an alert was raised, median and 90th percentile of the alerts first seen "
        f"in each {per}: {summary[0].lower()}{summary[1:]}",
        starts=figures.window.starts,
        step=figures.window.step,
        series=[
            Series("median", "s-median", [_in(s.percentiles[0], unit) for s in spreads]),
            Series("p90", "s-p90", [_in(s.percentiles[1], unit) for s in spreads]),
        ],
        fmt=lambda value: _minutes(value * unit),
        tick_fmt=lambda value: f"{value:g} {name}" if value else "0",
        notes=[f"{s.count:,} {done}" if s.count else "" for s in spreads],
        empty=f"No alert first seen in this window has been {done}.",
    )


def _in(minutes: float | None, unit: float) -> float | None:
    return None if minutes is None else minutes / unit


def _ranking(testid: str, heading: str, kind: str, ranking: trends.Ranking, rank: str) -> Chart:
    rows = ranking.by_occurrences if rank == "occurrences" else ranking.by_alerts
    listed = "; ".join(f"{r.name}: {r.occurrences:,} occurrences in {r.alerts:,} alerts" for r in rows)
    return ranked_bars(
        testid,
        heading,
        f"The {len(rows)} {kind} with the most {rank}." if rows else f"No {kind} in this window.",
        f"The {len(rows)} {kind} with the most {rank}: {listed or 'none'}.",
        labels=[r.name for r in rows],
        series=[
            Series("alerts", "s-alerts", [r.alerts for r in rows]),
            Series("occurrences", "s-occurrences", [r.occurrences for r in rows]),
        ],
        empty="No alert in this window.",
    )


def _channel_charts(channels: Sequence[trends.ChannelTrend]) -> list[Chart]:
    reached = [c for c in channels if c.sent + c.failed]
    sent, failed = sum(c.sent for c in reached), sum(c.failed for c in reached)
    success = "; ".join(
        f"{c.name}: {percent(c.success_rate or 0)} ({c.sent:,} sent, {c.failed:,} failed)" for c in reached
    )
    timed = [c for c in channels if c.median_latency_ms is not None]
    latency = "; ".join(
        f"{c.name}: median {_ms(c.median_latency_ms or 0)}, p90 {_ms(c.p90_latency_ms or 0)}" for c in timed
    )
    return [
        ranked_bars(
            "chart-delivery",
            "Delivery success by channel",
            f"{sent:,} notifications delivered, {failed:,} failed for good.",
            f"Notifications delivered as a share of those delivered or failed, per channel: {success or 'none'}.",
            labels=[c.name for c in reached],
            series=[Series("delivered", "s-ok", [c.success_rate for c in reached])],
            fmt=percent,
            top=1.0,
            empty="No notification was delivered or failed in this window.",
        ),
        ranked_bars(
            "chart-latency",
            "Delivery latency by channel",
            "Median and 90th percentile of the time each delivery took.",
            f"Time to deliver a notification, median and 90th percentile per channel: {latency or 'none'}.",
            labels=[c.name for c in timed],
            series=[
                Series("median", "s-median", [c.median_latency_ms for c in timed]),
                Series("p90", "s-p90", [c.p90_latency_ms for c in timed]),
            ],
            fmt=_ms,
            empty="No notification was delivered in this window.",
        ),
    ]
