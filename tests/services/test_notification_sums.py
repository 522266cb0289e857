"""The channel figures from the sums of notifications (db/notification_sums.py)
equal the same figures counted from every notification row, through a
scripted history (delivery, retries then success, failures, folding into a
digest and its delivery, silenced rows released, a channel test, deletion by
housekeeping's retention and the cascade from deleted alerts), before and
after housekeeping folds the deltas, for all time (GET /channels), whole
days, partial days and no whole day, on both databases."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.db import notification_sums
from app.models import NotificationDelta, NotificationSums, NotificationTotals, OutboxRow
from app.services import channels, housekeeping
from tests.conftest import Service
from tests.helpers import create_alert, move, wait_for
from tests.peers import HttpReceiver

DAY = timedelta(days=1)
FIGURES = ("sent", "failed", "pending", "silenced", "folded", "success_rate", "mean_latency_ms")


def _periods(start: datetime) -> list[tuple[datetime | None, datetime | None]]:
    noon = start.replace(hour=12, minute=30)
    midnight = start.replace(hour=0, minute=0)
    return [
        (None, None),
        (noon + DAY, None),  # a partial first day
        (None, noon + 2 * DAY),  # a partial last day
        (noon, noon + 2 * DAY),  # both
        (noon + DAY, noon + DAY + timedelta(hours=3)),  # no whole day
        (midnight + DAY, midnight + 3 * DAY),  # whole days only
    ]


def _counted(rows: list[OutboxRow], since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """The figures counted here, one row at a time."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if (since is not None and row.created_at < since) or (until is not None and row.created_at >= until):
            continue
        figures = found.setdefault(
            row.channel, {"sent": 0, "failed": 0, "pending": 0, "silenced": 0, "folded": 0, "latency": []}
        )
        figures["pending" if row.status == "sending" else row.status] += 1
        if row.status == "sent" and row.duration_ms is not None:
            figures["latency"].append(row.duration_ms)
    for figures in found.values():
        latency = figures.pop("latency")
        sent, failed = figures["sent"], figures["failed"]
        figures["success_rate"] = sent / (sent + failed) if sent + failed else None
        figures["mean_latency_ms"] = sum(latency) / len(latency) if latency else None
    return found


def _same(left: Any, right: Any, where: str) -> None:
    assert left.keys() == right.keys(), where
    for key in left:
        assert type(left[key]) is type(right[key]), (where, key, left[key], right[key])  # no Decimal
        if isinstance(left[key], float) and isinstance(right[key], float):
            assert math.isclose(left[key], right[key], rel_tol=1e-9), (where, key, left[key], right[key])
        else:
            assert left[key] == right[key], (where, key, left[key], right[key])


async def _agree(svc: Service, start: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    await svc.app.state.dispatcher.run_once()
    await svc.app.state.dispatcher.drain()
    async with svc.app.state.sessionmaker() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for the rows and the sums: delivery goes on meanwhile.
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        rows = list(await session.scalars(select(OutboxRow)))
        for since, until in _periods(start):
            expected = _counted(rows, since, until)
            summed = await channels.delivery_figures(session, since=since, until=until)
            with monkeypatch.context() as patched:  # from the rows, as before the sums
                patched.setattr(notification_sums, "whole_days", lambda since, until: None)
                scratch = await channels.delivery_figures(session, since=since, until=until)
            for figures in (summed, scratch):
                assert figures.keys() == expected.keys(), (since, until)
                for name, delivery in figures.items():
                    shown = {key: getattr(delivery, key) for key in FIGURES}
                    _same(shown, expected[name], f"{name} {since} {until}")
        # GET /channels: the configured channels over all time.
        listed = {
            figures.name: figures
            for figures in await channels.channel_figures(session, svc.settings, now=svc.clock.now)
        }
        for name, figures in listed.items():
            counted = _counted(rows, None, None).get(name)
            if counted is None:
                assert figures.sent == figures.failed == figures.pending == figures.folded == 0
                assert figures.mean_latency_ms is None
            else:
                assert (figures.sent, figures.failed, figures.pending, figures.silenced, figures.folded) == (
                    counted["sent"], counted["failed"], counted["pending"], counted["silenced"], counted["folded"],
                )  # fmt: skip


async def _tables(svc: Service) -> tuple[int, int, int]:
    async with svc.app.state.sessionmaker() as session:
        deltas, sums, totals = [
            int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (NotificationDelta, NotificationSums, NotificationTotals)
        ]
    return deltas, sums, totals


async def _statuses(svc: Service) -> set[str]:
    async with svc.app.state.sessionmaker() as session:
        return set(await session.scalars(select(OutboxRow.status).distinct()))


def _retry(svc: Service) -> None:
    svc.clock.advance(seconds=400)  # past any backoff
    svc.app.state.wake_delivery()


async def test_sums_answer_as_the_rows_do(  # type: ignore[no-untyped-def]
    service_factory, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky, dead = HttpReceiver(), HttpReceiver()
    flaky.answer_sequence([500, 200])  # the first attempt fails, then every one succeeds
    dead.answer(500)
    try:
        settings: dict[str, Any] = {
            "channels": {
                "hooks": {"type": "webhook", "url": http_receiver.url, "max_per_minute": 2},
                "flaky": {"type": "webhook", "url": flaky.url},
                "dead": {"type": "webhook", "url": dead.url},
            },
            "default_channels": ["hooks", "flaky"],
            "max_attempts": 2,
            "auto_close_hours": 48,
            "retention_days": 3,
        }
        async with service_factory(**settings) as svc:
            start = datetime(2026, 1, 5, 1, 7, tzinfo=UTC)
            svc.clock.now = start
            alerts: list[dict[str, Any]] = []
            for day in range(4):  # four days, at several hours; three alerts in a minute fold
                for n, hour in enumerate((1, 9, 9, 9, 17)):
                    svc.clock.now = start.replace(hour=hour, minute=7, second=n) + day * DAY
                    channels_of = ["hooks", "flaky", "dead"] if n == 4 else ["hooks", "flaky"]
                    alerts.append(
                        await create_alert(svc.client, source=f"db-{day}-{n}", channels=channels_of)
                    )
                svc.clock.now = start.replace(hour=9, minute=8) + day * DAY  # the minute's digest is due
                svc.app.state.wake_delivery()
                await _agree(svc, start, monkeypatch)
                _retry(svc)  # the flaky channel's retry succeeds; the dead one gives up
                await _agree(svc, start, monkeypatch)
            # A silence holds notifications; its end releases them.
            silence = await svc.client.post(
                "/silences",
                json={
                    "matchers": [{"name": "source", "value": "held"}],
                    "duration_minutes": 60,
                    "created_by": "alice",
                    "comment": "maintenance",
                },
            )
            assert silence.status_code == 201, silence.text
            held = await create_alert(svc.client, source="held")
            await _agree(svc, start, monkeypatch)
            assert (await svc.client.post("/channels/hooks/test")).status_code in (200, 201, 202)
            await _agree(svc, start, monkeypatch)
            assert {"sent", "failed", "folded", "silenced"} <= await _statuses(svc)
            assert (await _tables(svc))[0] > 0
            svc.clock.advance(minutes=61)
            svc.app.state.wake_silences()

            async def released() -> bool:  # held rows stay silenced; one notice is queued
                async with svc.app.state.sessionmaker() as session:
                    reasons = set(await session.scalars(select(OutboxRow.reason)))
                return "unsilenced" in reasons

            await wait_for(released)
            await _agree(svc, start, monkeypatch)

            # Housekeeping folds the deltas.
            await housekeeping.run(svc.app.state.sessionmaker, settings=svc.settings, now=svc.clock.now)
            deltas, sums, totals = await _tables(svc)
            assert deltas == 0 and sums > totals > 0
            await _agree(svc, start, monkeypatch)

            # More changes after the fold; then the alerts end and are deleted.
            for alert in [*alerts, held]:
                assert (
                    await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "o"})
                ).status_code == 200
            await _agree(svc, start, monkeypatch)
            svc.clock.advance(days=3)
            for alert in alerts[:10]:
                assert (await move(svc.client, alert["id"], "closed")).status_code in (200, 409)
            await housekeeping.run(svc.app.state.sessionmaker, settings=svc.settings, now=svc.clock.now)
            await _agree(svc, start, monkeypatch)
            svc.clock.advance(days=4)  # deletes those closed, closes the rest
            _, deleted = await housekeeping.run(
                svc.app.state.sessionmaker, settings=svc.settings, now=svc.clock.now
            )
            assert deleted > 0
            await _agree(svc, start, monkeypatch)
            svc.clock.advance(days=30)
            await housekeeping.run(svc.app.state.sessionmaker, settings=svc.settings, now=svc.clock.now)
            await _agree(svc, start, monkeypatch)
            async with svc.app.state.sessionmaker() as session:
                left = int(await session.scalar(select(func.count()).select_from(OutboxRow)) or 0)
            assert left == 0
            assert await _tables(svc) == (0, 0, 0)  # no day or channel keeps a row of zeros
    finally:
        flaky.close()
        dead.close()
