"""GET /stats on a known history, figure by figure, on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import FakeClock, Service
from tests.helpers import create_alert, post_alert, wait_for
from tests.peers import HttpReceiver

T0 = FakeClock().now


def at(svc: Service, minutes: float) -> None:
    from datetime import timedelta

    svc.clock.now = T0 + timedelta(minutes=minutes)


async def settled(svc: Service) -> bool:
    channels = (await svc.client.get("/channels")).json()
    return all(c["pending"] == 0 for c in channels)


@pytest.fixture
async def history(service_factory, http_receiver: HttpReceiver) -> Any:  # type: ignore[no-untyped-def]
    """Four alerts with a known life each (see the assertions for the sums)."""
    http_receiver.answer(404)  # the hooks channel fails for good at once
    async with service_factory(channels={"hooks": {"type": "webhook", "url": http_receiver.url}}) as svc:
        at(svc, 0)
        a1 = await create_alert(svc.client, alert_type="disk_full", severity="high", source="db-1")
        a2 = await create_alert(svc.client, alert_type="cpu", severity="critical", source="web-1")
        at(svc, 1)
        for _ in range(2):
            await post_alert(svc.client, alert_type="disk_full", severity="high", source="db-1")
        at(svc, 5)
        a3 = await create_alert(svc.client, alert_type="cpu", severity="low", source="web-2")
        a4 = await create_alert(
            svc.client, alert_type="mem", severity="medium", source="web-1", channels=["console", "hooks"]
        )
        at(svc, 10)
        await svc.client.patch(f"/alerts/{a1['id']}/acknowledge", json={"by": "alice"})
        at(svc, 25)
        await svc.client.patch(f"/alerts/{a3['id']}/acknowledge", json={"by": "bob"})
        at(svc, 30)
        await svc.client.patch(f"/alerts/{a1['id']}/resolve", json={"resolved_by": "alice"})
        at(svc, 31)
        assert len((await svc.client.post("/escalation/tick")).json()["steps"]) == 1
        at(svc, 60)
        await svc.client.patch(f"/alerts/{a2['id']}/resolve", json={"resolved_by": "carol"})
        at(svc, 70)
        assert (await post_alert(svc.client, alert_type="cpu", severity="critical", source="web-1")).json()[
            "outcome"
        ] == "reopened"
        at(svc, 95)
        await svc.client.patch(f"/alerts/{a4['id']}/resolve", json={"resolved_by": "dave"})
        await wait_for(lambda: settled(svc))
        yield svc


async def test_stats_figure_by_figure(history: Service) -> None:
    response = await history.client.get("/stats")
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["alerts"] == {
        "total": 4,
        "active": 2,
        "resolved": 2,
        "by_status": {
            "open": 0,
            "acknowledged": 1,
            "in_progress": 0,
            "resolved": 2,
            "closed": 0,
            "reopened": 1,
        },
        "by_severity": {"info": 0, "low": 1, "medium": 1, "high": 1, "critical": 1},
        "by_type": {"cpu": 2, "disk_full": 1, "mem": 1},
        "other_types": 0,
    }
    resolution = stats["resolution"]
    assert resolution["mean_minutes"] == pytest.approx(60)  # 30 and 90
    assert resolution["median_minutes"] == pytest.approx(60)
    assert resolution["p90_minutes"] == pytest.approx(84)
    assert resolution["mean_minutes_to_acknowledge"] == pytest.approx(15)  # 10 and 20
    assert resolution["median_minutes_to_acknowledge"] == pytest.approx(15)
    assert resolution["p90_minutes_to_acknowledge"] == pytest.approx(19)
    assert resolution["reopened"] == 1 and resolution["reopen_rate"] == pytest.approx(0.25)
    assert stats["deduplication"] == {
        "submissions": 7,
        "duplicates": 3,
        "suppressed": 2,
        "suppression_rate": pytest.approx(2 / 7),
        "active_fingerprints": 1,
    }
    assert stats["escalation"] == {
        "alerts_reached_level": {"2": 1, "3": 1, "4": 0},
        "escalations_by_level": {"2": 0, "3": 1, "4": 0},
    }
    console, hooks = stats["channels"]["console"], stats["channels"]["hooks"]
    # console: 4 new + 1 escalation + 1 reopened; hooks: a4's new and resolved notices, both refused.
    assert (console["sent"], console["failed"], console["pending"]) == (6, 0, 0)
    assert console["success_rate"] == 1.0 and console["mean_latency_ms"] > 0 and console["p95_latency_ms"] > 0
    assert (hooks["sent"], hooks["failed"], hooks["success_rate"], hooks["p95_latency_ms"]) == (
        0,
        2,
        0.0,
        None,
    )
    assert stats["silences"] == {
        "active": 0,
        "pending": 0,
        "held_notifications": 0,
        "silenced_notifications": 0,
    }


async def test_stats_filters_narrow_every_section(history: Service) -> None:
    by_type = (await history.client.get("/stats", params={"alert_type": "cpu"})).json()
    assert by_type["alerts"]["total"] == 2 and by_type["deduplication"]["submissions"] == 3
    assert by_type["escalation"]["escalations_by_level"]["3"] == 1
    assert by_type["channels"]["hooks"]["failed"] == 0 and by_type["channels"]["console"]["sent"] == 4
    by_source = (await history.client.get("/stats", params={"source": "web-1"})).json()
    assert by_source["alerts"]["by_type"] == {"cpu": 1, "mem": 1}
    assert by_source["channels"]["hooks"]["failed"] == 2
    since = (T0.replace(minute=5)).isoformat()
    recent = (await history.client.get("/stats", params={"since": since})).json()
    assert recent["alerts"]["total"] == 2 and recent["resolution"]["mean_minutes"] == pytest.approx(90)
    assert recent["escalation"]["escalations_by_level"]["3"] == 1  # the escalation happened at +31


async def test_stats_on_an_empty_database(service: Service) -> None:
    stats = (await service.client.get("/stats")).json()
    assert stats["alerts"]["total"] == 0 and stats["alerts"]["by_type"] == {}
    assert all(v is None for k, v in stats["resolution"].items() if k != "reopened")
    assert stats["resolution"]["reopened"] == 0
    assert stats["deduplication"] == {
        "submissions": 0,
        "duplicates": 0,
        "suppressed": 0,
        "suppression_rate": None,
        "active_fingerprints": 0,
    }
    assert stats["channels"]["console"] == {
        "sent": 0,
        "failed": 0,
        "pending": 0,
        "silenced": 0,
        "folded": 0,
        "success_rate": None,
        "mean_latency_ms": None,
        "p95_latency_ms": None,
    }


async def test_bad_period_is_422(service: Service) -> None:
    response = await service.client.get("/stats", params={"since": "yesterday"})
    assert response.status_code == 422 and response.json()["field"] == "since"
