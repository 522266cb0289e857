"""Alertmanager's always-firing Watchdog alert is a heartbeat of that
Alertmanager: while it arrives nothing is alerted; when it stops, the missed
heartbeat pages; when it comes back, that alert is resolved."""

from __future__ import annotations

from typing import Any

from tests.conftest import FakeClock, Service
from tests.integrations.test_alertmanager import URL, am_alert, payload

HEARTBEAT = "alertmanager:alertmanager:9093"  # from the payload's externalURL


def watchdog(status: str = "firing") -> dict[str, Any]:
    return am_alert(status, alertname="Watchdog", severity="none", instance="", job="")


async def alerts(svc: Service) -> list[dict[str, Any]]:
    return list((await svc.client.get("/alerts", params={"status": "open"})).json()["items"])


async def test_the_watchdog_is_a_beat_not_an_alert(service: Service) -> None:
    answer = await service.client.post(URL, json=payload(watchdog(), am_alert()))
    assert answer.status_code == 200
    first, second = answer.json()["results"]
    assert first["outcome"] == "heartbeat" and first["heartbeat_name"] == HEARTBEAT
    assert second["outcome"] == "created"  # the rest of the notification as ever
    heartbeat = (await service.client.get(f"/heartbeats/{HEARTBEAT}")).json()
    assert heartbeat["state"] == "up" and heartbeat["timeout_seconds"] == 300
    assert [a["alert_type"] for a in await alerts(service)] == ["DiskFull"]


async def test_a_silent_watchdog_pages_and_its_return_resolves(service: Service, clock: FakeClock) -> None:
    await service.client.post(URL, json=payload(watchdog()))
    clock.advance(seconds=299)
    await service.app.state.check_heartbeats()
    assert await alerts(service) == []
    clock.advance(seconds=2)
    await service.app.state.check_heartbeats()
    [missed] = await alerts(service)
    assert missed["alert_type"] == "heartbeat_missed" and missed["source"] == HEARTBEAT
    assert "Watchdog" in missed["message"]

    await service.client.post(URL, json=payload(watchdog()))
    resolved = (await service.client.get(f"/alerts/{missed['id']}")).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "heartbeat"


async def test_a_resolved_watchdog_beats_nothing(service: Service, clock: FakeClock) -> None:
    await service.client.post(URL, json=payload(watchdog()))
    clock.advance(seconds=200)
    answer = await service.client.post(URL, json=payload(watchdog("resolved")))
    assert answer.json()["results"][0]["outcome"] == "heartbeat"
    heartbeat = (await service.client.get(f"/heartbeats/{HEARTBEAT}")).json()
    assert heartbeat["last_beat_at"] != clock.now.isoformat().replace("+00:00", "Z")


async def test_with_the_setting_empty_the_watchdog_is_an_ordinary_alert(service_factory: Any) -> None:
    async with service_factory(alertmanager_watchdog="") as svc:
        answer = await svc.client.post(URL, json=payload(watchdog()))
        assert answer.json()["results"][0]["outcome"] == "created"
        assert (await svc.client.get(f"/heartbeats/{HEARTBEAT}")).status_code == 404
