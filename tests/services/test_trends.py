"""The stats page's figures over time (services/trends.py) on a known
history, bucket by bucket, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.models import OutboxRow
from app.services import trends
from tests.conftest import FakeClock, Service
from tests.helpers import create_alert, post_alert

# The history starts when the service does (the clock only moves forward, so
# the escalation ticker's own first run finds nothing due) and is read an
# hour later: 48 buckets of 30 minutes, the last one 10:00-10:30.
T0 = FakeClock().now  # 2026-01-05 09:00 UTC
NOW = T0 + timedelta(hours=1)
SPAN, STEP = trends.SPANS["24h"]
WINDOW = trends.Window.ending(NOW, span=SPAN, step=STEP)


def at(svc: Service, hh_mm: str) -> datetime:
    hours, minutes = (int(part) for part in hh_mm.split(":"))
    svc.clock.now = T0.replace(hour=hours, minute=minutes)
    return svc.clock.now


def bucket(hh_mm: str) -> int:
    """The index of the bucket that starts at hh:mm on the 5th."""
    hours, minutes = (int(part) for part in hh_mm.split(":"))
    return WINDOW.starts.index(T0.replace(hour=hours, minute=minutes))


async def make_history(svc: Service) -> dict[str, Any]:
    """Five alerts with a known life each (the assertions spell out the sums),
    and notifications of a `pager` channel with known latencies."""
    at(svc, "09:00")
    a1 = await create_alert(svc.client, alert_type="disk_full", severity="critical", source="db-1")
    a2 = await create_alert(svc.client, alert_type="cpu", severity="high", source="web-1")
    a5 = await create_alert(svc.client, alert_type="db_down", severity="critical", source="db-2")
    at(svc, "09:05")
    for _ in range(2):  # duplicates of a1, suppressed
        await post_alert(svc.client, alert_type="disk_full", severity="critical", source="db-1")
    at(svc, "09:10")
    await svc.client.patch(f"/alerts/{a1['id']}/acknowledge", json={"by": "alice"})  # 10 min
    at(svc, "09:20")
    await svc.client.patch(f"/alerts/{a2['id']}/acknowledge", json={"by": "bob"})  # 20 min
    at(svc, "09:30")
    await svc.client.patch(f"/alerts/{a1['id']}/resolve", json={"resolved_by": "alice"})  # 30 min
    at(svc, "09:31")
    steps = (await svc.client.post("/escalation/tick")).json()["steps"]
    assert [(s["alert_id"], s["to_level"]) for s in steps] == [(a5["id"], 3)]  # critical, unacknowledged
    at(svc, "09:40")
    a3 = await create_alert(svc.client, alert_type="cpu", severity="low", source="web-2")
    at(svc, "09:45")
    await svc.client.patch(f"/alerts/{a3['id']}/acknowledge", json={"by": "carol"})  # 5 min
    at(svc, "10:00")
    a4 = await create_alert(svc.client, alert_type="mem", severity="medium", source="web-1")
    async with svc.app.state.sessionmaker() as session, session.begin():
        for minutes, status, duration_ms in [
            (0, "sent", 10.0), (1, "sent", 20.0), (2, "sent", 40.0), (3, "sent", 30.0), (4, "failed", None),
            (-24 * 60 - 60, "sent", 1000.0),  # the day before the window: left out
        ]:  # fmt: skip
            created = T0 + timedelta(minutes=minutes)
            session.add(
                OutboxRow(
                    id=uuid.uuid4(), alert_id=uuid.UUID(a1["id"]), channel="pager", reason="new", level=1,
                    status=status, attempts=1, created_at=created, next_attempt_at=created,
                    sent_at=created if status == "sent" else None, duration_ms=duration_ms,
                )
            )  # fmt: skip
    return {"a1": a1, "a2": a2, "a3": a3, "a4": a4, "a5": a5}


@pytest.fixture
async def history(service: Service) -> Service:
    await make_history(service)
    return service


async def compute(svc: Service, team: str | None = None, window: trends.Window = WINDOW) -> trends.Trends:
    async with svc.app.state.sessionmaker() as session, session.begin():
        return await trends.compute(session, window=window, team=team, channels=["console", "quiet"])


def test_windows_are_aligned_and_sized() -> None:
    assert (WINDOW.since, WINDOW.until) == (datetime(2026, 1, 4, 10, 30, tzinfo=UTC), NOW + STEP)
    now = datetime(2026, 1, 5, 9, 17, 42, tzinfo=UTC)
    for span, step in trends.SPANS.values():
        window = trends.Window.ending(now, span=span, step=step)
        assert 24 <= len(window.starts) <= 60
        assert window.starts[-1] <= now < window.until and window.until - window.since == span
        assert int(window.since.timestamp()) % int(step.total_seconds()) == 0


async def test_figures_bucket_by_bucket(history: Service) -> None:
    figures = await compute(history)
    assert figures.window == WINDOW and len(figures.occurrences) == 48
    b9, b930, b10 = bucket("09:00"), bucket("09:30"), bucket("10:00")
    nonzero = {s: {i: n for i, n in enumerate(c) if n} for s, c in figures.alerts.items()}
    assert nonzero == {
        "info": {},
        "low": {b930: 1},
        "medium": {b10: 1},
        "high": {b9: 1},
        "critical": {b9: 2},
    }
    assert figures.total_alerts == 5
    assert {i: n for i, n in enumerate(figures.occurrences) if n} == {b9: 5, b930: 1, b10: 1}
    assert {i: n for i, n in enumerate(figures.suppressed) if n} == {b9: 2}
    assert figures.suppression_rate == pytest.approx(2 / 7)
    rates = figures.suppression_rates
    assert rates[b9] == pytest.approx(0.4) and rates[b930] == 0 and rates[0] is None

    ack = figures.acknowledge
    assert (ack[b9].count, *ack[b9].percentiles) == (2, pytest.approx(15), pytest.approx(19))  # 10, 20
    assert (ack[b930].count, *ack[b930].percentiles) == (1, pytest.approx(5), pytest.approx(5))
    assert (ack[b10].count, *ack[b10].percentiles) == (0, None, None)
    overall = figures.acknowledge_overall  # 5, 10, 20
    assert (overall.count, *overall.percentiles) == (3, pytest.approx(10), pytest.approx(18))
    assert (figures.resolve[b9].count, *figures.resolve[b9].percentiles) == (1, 30, 30)
    assert figures.resolve_overall.count == 1

    assert {lvl: {i: n for i, n in enumerate(c) if n} for lvl, c in figures.escalations.items()} == {
        2: {},
        3: {b930: 1},
        4: {},
    }


async def test_noisiest_by_alerts_and_by_occurrences(history: Service) -> None:
    figures = await compute(history)

    def named(rows: list[trends.Noisy]) -> list[tuple[str, int, int]]:
        return [(r.name, r.alerts, r.occurrences) for r in rows]

    assert named(figures.types.by_occurrences) == [
        ("disk_full", 1, 3), ("cpu", 2, 2), ("db_down", 1, 1), ("mem", 1, 1),
    ]  # fmt: skip
    assert named(figures.types.by_alerts) == [
        ("cpu", 2, 2), ("disk_full", 1, 3), ("db_down", 1, 1), ("mem", 1, 1),
    ]  # fmt: skip
    assert named(figures.sources.by_occurrences)[:2] == [("db-1", 1, 3), ("web-1", 2, 2)]
    assert named(figures.sources.by_alerts)[0] == ("web-1", 2, 2)


async def test_channel_success_and_latency(history: Service) -> None:
    channels = {c.name: c for c in (await compute(history)).channels}
    assert set(channels) >= {"console", "pager", "quiet"}  # configured, or with notifications
    pager = channels["pager"]
    assert (pager.sent, pager.failed, pager.success_rate) == (4, 1, pytest.approx(0.8))
    assert pager.median_latency_ms == pytest.approx(25) and pager.p90_latency_ms == pytest.approx(37)
    quiet = channels["quiet"]
    assert (quiet.sent, quiet.success_rate, quiet.median_latency_ms) == (0, None, None)


async def test_a_team_sees_its_own_figures(history: Service) -> None:
    own = await compute(history, team="default")
    assert own.total_alerts == 5 and sum(own.escalations[3]) == 1
    assert {c.name: c.sent for c in own.channels}["pager"] == 4
    other = await compute(history, team="payments")
    assert other.total_alerts == 0 and sum(other.occurrences) == 0 and other.suppression_rate is None
    assert other.acknowledge_overall.count == 0 and other.acknowledge_overall.percentiles == (None, None)
    assert sum(sum(n) for n in other.escalations.values()) == 0
    assert other.types.by_alerts == [] and other.sources.by_occurrences == []
    assert {c.name: c.sent + c.failed for c in other.channels}.get("pager", 0) == 0


async def test_a_window_before_the_history_is_empty(history: Service) -> None:
    earlier = trends.Window.ending(NOW - timedelta(days=2), span=SPAN, step=STEP)
    figures = await compute(history, window=earlier)
    assert figures.total_alerts == 0 and figures.resolve_overall.count == 0
    assert {c.name: c.sent for c in figures.channels}.get("pager", 0) == 0
