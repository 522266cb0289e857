"""The PagerDuty Events API v2 contract: request and response shapes as
PagerDuty documents them, and what each action does to the alert."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.conftest import Service

URL = "/integrations/pagerduty/v2/enqueue"
KEY = "R0UTINGKEY-for-the-billing-service"


def event(action: str = "trigger", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": KEY,
        "event_action": action,
        "dedup_key": "billing-db-disk",
        "payload": {
            "summary": "DISK at 99% on billing-db-1",
            "source": "billing-db-1",
            "severity": "error",
            "timestamp": "2026-01-05T08:59:00.000+0000",
            "component": "postgres",
            "group": "billing",
            "class": "disk",
            "custom_details": {"free_gb": 1, "mount": "/var/lib/postgresql"},
        },
        "links": [{"href": "https://runbooks.example.com/disk", "text": "Runbook"}],
        "images": [{"src": "https://graphs.example.com/disk.png", "alt": "disk graph"}],
        "client": "Monitoring",
        "client_url": "https://monitoring.example.com",
    }
    body.update(overrides)
    return body


async def send(svc: Service, body: Any) -> tuple[int, dict[str, Any]]:
    response = await svc.client.post(URL, json=body)
    return response.status_code, response.json()


async def only_alert(svc: Service) -> dict[str, Any]:
    [alert] = (await svc.client.get("/alerts")).json()["items"]
    detail: dict[str, Any] = (await svc.client.get(f"/alerts/{alert['id']}")).json()
    return detail


def hashed(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


async def test_trigger_creates_an_alert_and_answers_like_pagerduty(service: Service) -> None:
    status, body = await send(service, event())
    assert status == 202
    assert body == {"status": "success", "message": "Event processed", "dedup_key": "billing-db-disk"}
    alert = await only_alert(service)
    assert alert["fingerprint"] == "billing-db-disk"
    assert (alert["alert_type"], alert["severity"], alert["source"]) == ("disk", "high", "billing-db-1")
    assert alert["message"] == "DISK at 99% on billing-db-1"
    assert alert["labels"] == {"component": "postgres", "group": "billing", "class": "disk"}
    assert alert["details"]["custom_details"] == {"free_gb": 1, "mount": "/var/lib/postgresql"}
    assert alert["details"]["links"][0]["href"] == "https://runbooks.example.com/disk"
    assert alert["status"] == "open" and [n["reason"] for n in alert["notifications"]] == ["new"]


async def test_duplicate_trigger_merges_into_the_same_alert(service: Service) -> None:
    await send(service, event())
    status, body = await send(service, event(payload={**event()["payload"], "summary": "DISK at 100%"}))
    assert status == 202 and body["dedup_key"] == "billing-db-disk"
    alert = await only_alert(service)
    assert alert["occurrences"] == 2 and alert["suppressed_count"] == 1 and alert["message"] == "DISK at 100%"


async def test_acknowledge_then_resolve(service: Service) -> None:
    await send(service, event())
    status, body = await send(
        service, {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "billing-db-disk"}
    )
    assert (status, body["dedup_key"]) == (202, "billing-db-disk")
    alert = await only_alert(service)
    assert alert["status"] == "acknowledged" and alert["acknowledged_by"] == "pagerduty"
    # Repeating an acknowledge is a no-op, as it is for PagerDuty.
    assert (await send(service, event("acknowledge", payload=None)))[0] == 202
    status, _ = await send(
        service, {"routing_key": KEY, "event_action": "resolve", "dedup_key": "billing-db-disk"}
    )
    assert status == 202
    alert = await only_alert(service)
    assert alert["status"] == "resolved" and alert["resolved_by"] == "pagerduty"
    assert alert["resolution_notes"] == "resolved via the Events API"
    assert (await send(service, event("resolve")))[0] == 202  # again: still fine, nothing changes
    assert (await only_alert(service))["status"] == "resolved"


async def test_trigger_after_resolve_reopens_within_the_window_and_opens_anew_after(service: Service) -> None:
    await send(service, event())
    await send(service, event("resolve"))
    service.clock.advance(minutes=5)
    assert (await send(service, event()))[0] == 202
    alert = await only_alert(service)
    assert alert["status"] == "reopened" and alert["occurrences"] == 2
    await send(service, event("resolve"))
    service.clock.advance(minutes=61)
    status, body = await send(service, event())
    assert (status, body["dedup_key"]) == (202, "billing-db-disk")
    items = (await service.client.get("/alerts")).json()["items"]
    assert [a["status"] for a in items] == ["open", "resolved"]
    assert {a["fingerprint"] for a in items} == {"billing-db-disk"}


async def test_trigger_without_dedup_key_gets_a_new_one_each_time(service: Service) -> None:
    body = event()
    del body["dedup_key"]
    _, first = await send(service, body)
    _, second = await send(service, body)
    assert first["dedup_key"] != second["dedup_key"] and len(first["dedup_key"]) == 32
    fingerprints = {a["fingerprint"] for a in (await service.client.get("/alerts")).json()["items"]}
    assert fingerprints == {first["dedup_key"], second["dedup_key"]}
    status, _ = await send(
        service, {"routing_key": KEY, "event_action": "resolve", "dedup_key": first["dedup_key"]}
    )
    assert status == 202


async def test_acting_on_an_unknown_dedup_key_is_accepted_and_changes_nothing(service: Service) -> None:
    status, body = await send(service, event("resolve", dedup_key="never-seen"))
    assert (status, body["dedup_key"]) == (202, "never-seen")
    assert (await service.client.get("/alerts")).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"event_action": "trigger", "payload": event()["payload"]}, "'routing_key' is missing or blank"),
        (event(routing_key="  "), "'routing_key' is missing or blank"),
        (
            event(event_action="escalate"),
            "'event_action' must be one of 'trigger', 'acknowledge' or 'resolve'",
        ),
        (event(payload=None), "'payload' is missing or blank"),
        (event(payload={"source": "x", "severity": "info"}), "'payload.summary' is missing or blank"),
        (
            event(payload={"summary": "s", "source": "x", "severity": "fatal"}),
            "'payload.severity' must be one of",
        ),
        (event(payload={"summary": "s", "severity": "info"}), "'payload.source' is missing or blank"),
        ({"routing_key": KEY, "event_action": "resolve"}, "'dedup_key' is missing or blank"),
        (
            {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": ""},
            "'dedup_key' is missing or blank",
        ),
    ],
)
async def test_invalid_events_get_pagerdutys_400(service: Service, body: dict[str, Any], error: str) -> None:
    status, answer = await send(service, body)
    assert status == 400
    assert answer["status"] == "invalid event" and answer["message"] == "Event object is invalid"
    assert any(e.startswith(error) for e in answer["errors"]), answer["errors"]
    assert (await service.client.get("/alerts")).json()["items"] == []


async def test_every_missing_field_is_listed(service: Service) -> None:
    status, answer = await send(service, {"payload": {}})
    assert status == 400
    for field in ("routing_key", "event_action", "payload.summary", "payload.source", "payload.severity"):
        assert f"'{field}' is missing or blank" in answer["errors"]


async def test_a_body_that_is_not_json_is_a_400_too(service: Service) -> None:
    response = await service.client.post(
        URL, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["errors"] == ["Request body is not valid JSON"]


async def test_routing_key_selects_a_configured_key(service_factory) -> None:  # type: ignore[no-untyped-def]
    keys = [
        {"name": "billing-service", "hash": hashed(KEY), "scopes": ["alerts:write"]},
        {"name": "dashboards", "hash": hashed("read-only-key"), "scopes": ["read"]},
    ]
    async with service_factory(api_keys=keys) as svc:
        # Reading the result back needs a key; the PagerDuty endpoint itself reads only the body.
        svc.client.headers["Authorization"] = "Bearer read-only-key"
        status, answer = await send(svc, event(routing_key="not-a-key"))
        assert (status, answer["errors"]) == (400, ["Invalid routing key"])
        status, answer = await send(svc, event(routing_key="read-only-key"))
        assert (status, answer["errors"]) == (400, ["Routing key lacks the alerts:write scope"])
        assert (await svc.client.get("/alerts")).json()["items"] == []
        assert (await send(svc, event()))[0] == 202
        assert (await send(svc, event("resolve")))[0] == 202
        alert = await only_alert(svc)
        assert alert["details"]["integration"] == "billing-service"
        assert alert["resolved_by"] == "billing-service"


async def test_open_mode_accepts_any_routing_key(service: Service) -> None:
    assert (await send(service, event(routing_key="anything-at-all")))[0] == 202
