"""POST /alerts: the deduplication rules of the design, one by one, clock injected."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import Service
from tests.helpers import create_alert, post_alert

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)


async def test_new_alert_is_created_with_location_and_fingerprint(service: Service) -> None:
    response = await post_alert(service.client)
    assert response.status_code == 201
    data = response.json()
    assert data["outcome"] == "created" and data["notified"] is True
    assert response.headers["location"] == f"http://alerts.test/alerts/{data['id']}"
    canonical = json.dumps(
        {"alert_type": "disk_full", "source": "db-1", "labels": {"env": "prod", "mount": "/var"}},
        sort_keys=True,
        separators=(",", ":"),
    )
    assert data["fingerprint"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert data["status"] == "open" and data["occurrences"] == 1 and data["escalation_level"] == 1
    assert data["channels"] == ["console"]
    assert data["first_seen_at"] == data["last_seen_at"] == data["triggered_at"]


async def test_duplicate_within_window_is_merged_and_suppressed(service: Service) -> None:
    first = await create_alert(service.client)
    service.clock.advance(minutes=5)
    response = await post_alert(service.client, message="/var is 93% full", details={"used_pct": 93})
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == first["id"]
    assert data["outcome"] == "duplicate" and data["notified"] is False
    assert data["occurrences"] == 2 and data["suppressed_count"] == 1
    assert data["message"] == "/var is 93% full" and data["details"] == {"used_pct": 93}
    assert data["last_seen_at"] > first["last_seen_at"]
    assert "location" not in response.headers


async def test_label_order_and_message_are_not_identity(service: Service) -> None:
    first = await create_alert(service.client, labels={"a": "1", "b": "2"}, message="CPU 91%")
    again = await post_alert(service.client, labels={"b": "2", "a": "1"}, message="CPU 93%", severity="low")
    assert again.json()["id"] == first["id"]
    other = await post_alert(service.client, labels={"a": "1", "b": "3"})
    assert other.status_code == 201


async def test_every_nth_suppressed_duplicate_notifies_and_restarts(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(suppression_threshold=3) as svc:
        await create_alert(svc.client)
        outcomes = []
        for _ in range(7):
            svc.clock.advance(seconds=10)
            outcomes.append((await post_alert(svc.client)).json()["notified"])
        # Duplicates 1-2 suppressed, 3rd notifies; 4-5 suppressed, 6th notifies; 7th suppressed.
        assert outcomes == [False, False, True, False, False, True, False]
        final = (await post_alert(svc.client)).json()
        assert final["suppressed_count"] == 6 and final["occurrences"] == 9
        detail = (await svc.client.get(f"/alerts/{final['id']}")).json()
        reasons = [n["reason"] for n in detail["notifications"]]
        assert reasons == ["new", "repeated", "repeated"]


async def test_duplicate_after_window_notifies_again(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(dedup_window_minutes=60) as svc:
        await create_alert(svc.client)
        svc.clock.advance(minutes=59.9)
        assert (await post_alert(svc.client)).json()["notified"] is False
        svc.clock.advance(minutes=60)
        data = (await post_alert(svc.client)).json()
        assert data["outcome"] == "duplicate" and data["notified"] is True
        detail = (await svc.client.get(f"/alerts/{data['id']}")).json()
        assert [n["reason"] for n in detail["notifications"]] == ["new", "window"]


async def test_higher_severity_raises_the_alert_and_notifies(service: Service) -> None:
    await create_alert(service.client, severity="medium")
    service.clock.advance(minutes=1)
    lower = (await post_alert(service.client, severity="low")).json()
    assert lower["severity"] == "medium" and lower["notified"] is False
    service.clock.advance(minutes=1)
    higher = (await post_alert(service.client, severity="critical")).json()
    assert higher["severity"] == "critical" and higher["notified"] is True
    detail = (await service.client.get(f"/alerts/{higher['id']}")).json()
    assert [n["reason"] for n in detail["notifications"]] == ["new", "severity"]
    assert any(e["kind"] == "severity_raised" for e in detail["history"])


async def test_recurrence_within_window_of_resolution_reopens(service: Service) -> None:
    first = await create_alert(service.client)
    service.clock.advance(minutes=10)
    resolved = await service.client.patch(f"/alerts/{first['id']}/resolve", json={"resolved_by": "bob"})
    assert resolved.status_code == 200
    service.clock.advance(minutes=30)
    response = await post_alert(service.client)
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == first["id"] and data["outcome"] == "reopened" and data["notified"] is True
    assert data["status"] == "reopened" and data["occurrences"] == 2
    assert data["triggered_at"] == data["last_seen_at"] and data["triggered_at"] > first["triggered_at"]
    assert data["resolved_at"] is None and data["resolved_by"] is None
    detail = (await service.client.get(f"/alerts/{first['id']}")).json()
    moves = [(e["from_status"], e["to_status"]) for e in detail["history"] if e["kind"] == "status"]
    assert moves == [("open", "resolved"), ("resolved", "reopened")]


async def test_recurrence_after_window_of_closing_is_a_new_alert(service: Service) -> None:
    first = await create_alert(service.client)
    await service.client.patch(f"/alerts/{first['id']}/status", json={"status": "closed", "by": "bob"})
    service.clock.advance(minutes=61)
    response = await post_alert(service.client)
    assert response.status_code == 201
    assert response.json()["id"] != first["id"] and response.json()["fingerprint"] == first["fingerprint"]


async def test_dedup_key_replaces_the_fingerprint(service: Service) -> None:
    first = await create_alert(service.client, dedup_key="incident-42", labels={"x": "1"})
    assert first["fingerprint"] == "incident-42"
    again = await post_alert(service.client, dedup_key="incident-42", labels={"y": "2"}, source="other")
    assert again.status_code == 200 and again.json()["id"] == first["id"]


async def test_deduplication_disabled_creates_every_submission(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(enable_deduplication=False) as svc:
        ids = set()
        for _ in range(3):
            response = await post_alert(svc.client)
            assert response.status_code == 201 and response.json()["outcome"] == "created"
            ids.add(response.json()["id"])
        assert len(ids) == 3


async def test_requested_channels_route_and_unknown_channel_is_named(service: Service) -> None:
    response = await post_alert(service.client, channels=["console", "pager"])
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "channels.1" and "pager" in body["message"]
    listed = (await service.client.get("/alerts")).json()
    assert listed["items"] == []  # nothing half-written


async def test_disabled_service_records_alerts_but_queues_nothing(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(enabled=False) as svc:
        data = await create_alert(svc.client)
        detail = (await svc.client.get(f"/alerts/{data['id']}")).json()
        assert detail["notifications"] == []
        assert detail["history"][0]["kind"] == "created"
