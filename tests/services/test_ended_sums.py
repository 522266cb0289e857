"""GET /stats from the sums of ended alerts (db/ended_sums.py) and the
bucket counts of durations (db/duration_buckets.py) equals the same figures
computed from every alert row, through a scripted history
(create, duplicate, acknowledge, resolve, close, reopen, delete by
housekeeping), before and after housekeeping folds the deltas, for whole
days, partial days and every narrowing, on both databases."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import ended_sums
from app.models import EndedAlertDelta, EndedAlertSums, EndedAlertTotals
from app.services import housekeeping, stats
from tests.conftest import Service
from tests.helpers import create_alert, move, post_alert

DAY = timedelta(days=1)


def _queries(now: datetime) -> list[stats.StatsQuery]:
    start = now - 12 * DAY
    noon = start.replace(hour=12, minute=30)
    return [
        stats.StatsQuery(),
        stats.StatsQuery(since=noon + DAY),  # a partial first day
        stats.StatsQuery(until=noon + 4 * DAY),  # a partial last day
        stats.StatsQuery(since=noon + DAY, until=noon + 5 * DAY),  # both
        stats.StatsQuery(since=noon + DAY, until=noon + DAY + timedelta(hours=3)),  # no whole day
        stats.StatsQuery(
            since=noon.replace(hour=0, minute=0) + DAY, until=noon.replace(hour=0, minute=0) + 3 * DAY
        ),
        # Midnight elsewhere is not midnight in UTC.
        stats.StatsQuery(
            since=(noon + 2 * DAY).astimezone(timezone(timedelta(hours=-5))).replace(hour=0, minute=0)
        ),
        stats.StatsQuery(alert_type="disk"),
        stats.StatsQuery(team="default", since=noon + 2 * DAY),
        stats.StatsQuery(source="db-1"),
        stats.StatsQuery(team="default"),
        stats.StatsQuery(team="nobody"),
    ]


def _same(left: Any, right: Any, where: str = "") -> None:
    """Equal, but for the last bits of a sum of floats added in another order."""
    if isinstance(left, dict):
        assert isinstance(right, dict) and left.keys() == right.keys(), where
        for key in left:
            _same(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, float) and isinstance(right, float):
        assert math.isclose(left, right, rel_tol=1e-9), (where, left, right)
    else:
        assert left == right, (where, left, right)


async def _agree(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    now = svc.clock.now
    for query in _queries(now):
        async with svc.app.state.sessionmaker() as session, session.begin():
            summed = await stats.compute(session, query=query, settings=svc.settings, now=now)
            with monkeypatch.context() as patched:  # every figure from the alert rows, as before the sums
                patched.setattr(ended_sums, "whole_days", lambda since, until: None)
                patched.setattr(stats, "_counted", lambda query: False)  # and each percentile's whole walk
                scratch = await stats.compute(session, query=query, settings=svc.settings, now=now)
        # Channels are read alike both times, and the delivery worker may send between.
        del summed["channels"], scratch["channels"]
        _same(summed, scratch, str(query))


async def _rows(svc: Service) -> tuple[int, int, int]:
    async with svc.app.state.sessionmaker() as session:
        deltas, sums, totals = [
            int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (EndedAlertDelta, EndedAlertSums, EndedAlertTotals)
        ]
    return deltas, sums, totals


async def test_sums_answer_as_the_rows_do(service_factory, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(auto_close_hours=48, retention_days=8) as svc:
        clock = svc.clock
        clock.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        alerts: list[dict[str, Any]] = []
        for day in range(10):  # ten days of alerts, four a day, at several hours
            for n, (kind, severity, source) in enumerate(
                (
                    ("disk", "high", "db-1"),
                    ("cpu", "low", "web-1"),
                    ("mem", "critical", "db-1"),
                    ("disk", "info", "web-2"),
                )
            ):
                clock.now = datetime(2026, 1, 5, 1 + 5 * n, 7, tzinfo=UTC) + day * DAY
                alert = await create_alert(
                    svc.client, alert_type=kind, severity=severity, source=f"{source}-{day}"
                )
                alerts.append(alert)
                await post_alert(svc.client, alert_type=kind, severity=severity, source=f"{source}-{day}")
        clock.now += timedelta(minutes=5)
        for i, alert in enumerate(alerts):
            if i % 3 != 2:
                assert (await move(svc.client, alert["id"], "acknowledged")).status_code == 200
            clock.now += timedelta(minutes=1 + i % 7)
            if i % 5 != 4:
                assert (
                    await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "o"})
                ).status_code == 200
            if i % 4 == 0:
                assert (await move(svc.client, alert["id"], "closed")).status_code == 200
        assert (await _rows(svc))[0] > 0
        await _agree(svc, monkeypatch)

        # A duplicate reopens a just resolved alert; a person reopens a closed one.
        resolved = next(a for i, a in enumerate(alerts) if i % 5 != 4 and i % 4 != 0 and i >= 36)
        reopened = await post_alert(
            svc.client,
            alert_type=resolved["alert_type"],
            severity=resolved["severity"],
            source=resolved["source"],
        )
        assert reopened.json()["outcome"] == "reopened"
        assert (await move(svc.client, alerts[4]["id"], "reopened")).status_code == 200
        assert (await move(svc.client, alerts[8]["id"], "resolved")).status_code in (200, 409)
        await _agree(svc, monkeypatch)

        # Housekeeping closes the resolved and folds the deltas.
        clock.now += 3 * DAY
        closed, _ = await housekeeping.run(svc.app.state.sessionmaker, settings=svc.settings, now=clock.now)
        assert closed > 0
        deltas, sums, totals = await _rows(svc)
        assert deltas == 0 and sums > totals > 0
        await _agree(svc, monkeypatch)

        # After the fold, more changes as deltas again; then every alert deleted.
        assert (await move(svc.client, alerts[-1]["id"], "resolved")).status_code in (200, 409)
        await create_alert(svc.client, alert_type="late", source="x")
        await _agree(svc, monkeypatch)
        clock.now += 30 * DAY  # deletes the closed alerts, closes the rest
        _, deleted = await housekeeping.run(svc.app.state.sessionmaker, settings=svc.settings, now=clock.now)
        assert deleted > 0
        await _agree(svc, monkeypatch)
        clock.now += 30 * DAY
        await housekeeping.run(svc.app.state.sessionmaker, settings=svc.settings, now=clock.now)
        await _agree(svc, monkeypatch)
        assert await _rows(svc) == (0, 0, 0)  # no day or kind keeps a row of zeros


def test_a_period_at_the_calendars_edge_is_read_from_the_rows() -> None:
    """Its day, or the day after, is past datetime.max: no whole day to sum."""
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert ended_sums.whole_days(last, None) is None
    assert (
        ended_sums.whole_days(None, datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))))
        is None
    )
    assert ended_sums.whole_days(datetime(2026, 1, 1, 12, tzinfo=UTC), last) == (
        datetime(2026, 1, 2, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
    )
