"""The Alertmanager webhook receiver, fed recorded payload shapes (Alertmanager
version 4, and Grafana's variant with its extra fields). The real Alertmanager
talking to a running service is tests/integrations/test_alertmanager_live.py."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import Service

URL = "/integrations/alertmanager"


def am_alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    base = {
        "alertname": "DiskFull",
        "severity": "critical",
        "instance": "db-1:9100",
        "job": "node",
        "mount": "/var",
    }
    base.update(labels)
    return {
        "status": status,
        "labels": base,
        "annotations": {"summary": "/var is 97% full", "description": "Free space below 3%\r\nfor 10m."},
        "startsAt": "2026-01-05T08:55:00.123Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-05T09:10:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
        "fingerprint": "c9a1f3d2e4b56789",
    }


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "alerts",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts) or [am_alert()],
    }


async def post(svc: Service, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await svc.client.post(URL, json=body, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_firing_alert_is_mapped_onto_a_submission(service: Service) -> None:
    receipt = await post(service, payload())
    [result] = receipt["results"]
    assert (
        receipt["received"] == 1
        and result["outcome"] == "created"
        and result["fingerprint"] == "c9a1f3d2e4b56789"
    )
    alert = (await service.client.get(f"/alerts/{result['alert_id']}")).json()
    assert (alert["alert_type"], alert["severity"], alert["source"]) == ("DiskFull", "critical", "db-1:9100")
    assert alert["message"] == "/var is 97% full" and alert["fingerprint"] == "c9a1f3d2e4b56789"
    assert alert["labels"]["mount"] == "/var" and alert["labels"]["job"] == "node"
    assert alert["details"]["description"] == "Free space below 3%\nfor 10m."
    assert alert["details"]["generator_url"].startswith("http://prometheus:9090")
    assert alert["channels"] == ["console"]


async def test_repeat_then_resolved_then_resolved_again(service: Service) -> None:
    created = (await post(service, payload()))["results"][0]
    repeat = (await post(service, payload()))["results"][0]
    assert repeat["outcome"] == "duplicate" and repeat["alert_id"] == created["alert_id"]
    resolved = (await post(service, payload(am_alert("resolved"), status="resolved")))["results"][0]
    assert resolved["outcome"] == "resolved" and resolved["alert_id"] == created["alert_id"]
    alert = (await service.client.get(f"/alerts/{created['alert_id']}")).json()
    assert alert["status"] == "resolved" and alert["resolved_by"] == "alertmanager"
    assert "2026-01-05T09:10:00" in alert["resolution_notes"]
    again = (await post(service, payload(am_alert("resolved"), status="resolved")))["results"][0]
    assert again["outcome"] == "already_resolved"


async def test_resolved_alert_never_seen_is_reported_unknown(service: Service) -> None:
    result = (await post(service, payload(am_alert("resolved"))))["results"][0]
    assert result["outcome"] == "unknown" and result["alert_id"] is None
    assert (await service.client.get("/alerts")).json()["items"] == []


async def test_severity_and_source_mapping(service: Service) -> None:
    cases = {"critical": "critical", "error": "high", "warning": "medium", "info": "info", "bogus": "medium"}
    alerts = []
    for i, (given, _) in enumerate(cases.items()):
        item = am_alert(severity=given, alertname=f"A{i}")
        item["fingerprint"] = f"fp{i}"
        alerts.append(item)
    no_instance = am_alert(alertname="NoInstance")
    no_instance["fingerprint"] = "fp-job"
    del no_instance["labels"]["instance"]
    alerts.append(no_instance)
    receipt = await post(service, payload(*alerts))
    by_type = {a["alert_type"]: a for a in (await service.client.get("/alerts")).json()["items"]}
    for i, expected in enumerate(cases.values()):
        assert by_type[f"A{i}"]["severity"] == expected
    assert by_type["NoInstance"]["source"] == "node"
    assert all(r["outcome"] == "created" for r in receipt["results"])


async def test_one_bad_alert_is_rejected_and_the_others_still_apply(service: Service) -> None:
    nameless = am_alert()
    del nameless["labels"]["alertname"]
    nameless["fingerprint"] = "nameless"
    receipt = await post(service, payload(nameless, am_alert()))
    rejected, created = receipt["results"]
    assert rejected["outcome"] == "rejected" and "alertname" in rejected["error"]
    assert created["outcome"] == "created"
    assert len((await service.client.get("/alerts")).json()["items"]) == 1


async def test_grafana_variant_with_extra_fields(service: Service) -> None:
    item = am_alert(alertname="HighLatency", severity="warning", grafana_folder="Services")
    item.update(
        {
            "silenceURL": "http://grafana/alerting/silence/new",
            "dashboardURL": "http://grafana/d/abc",
            "panelURL": "http://grafana/d/abc?viewPanel=2",
            "values": {"B": 812.5},
            "valueString": "[ var='B' value=812.5 ]",
        }
    )
    body = payload(item)
    body.update({"orgId": 1, "state": "alerting", "title": "[FIRING:1] HighLatency", "message": "..."})
    [result] = (await post(service, body))["results"]
    assert result["outcome"] == "created"
    alert = (await service.client.get(f"/alerts/{result['alert_id']}")).json()
    assert alert["severity"] == "medium" and alert["labels"]["grafana_folder"] == "Services"


async def test_channels_in_the_query_string(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(channels={"second": {"type": "console"}}) as svc:
        [result] = (await post(svc, payload(), channels=["second"]))["results"]
        alert = (await svc.client.get(f"/alerts/{result['alert_id']}")).json()
        assert alert["channels"] == ["second"]
        unknown = await svc.client.post(URL, json=payload(), params={"channels": "nope"})
        assert unknown.status_code == 422 and unknown.json()["field"] == "channels.0"


async def test_malformed_payloads_are_422_with_the_field(service: Service) -> None:
    bad = copy.deepcopy(payload())
    bad["alerts"][0]["status"] = "exploded"
    response = await service.client.post(URL, json=bad)
    assert response.status_code == 422 and response.json()["field"] == "alerts.0.status"
    response = await service.client.post(URL, json={"version": "4"})
    assert response.status_code == 422 and response.json()["field"] == "alerts"
    assert (await service.client.get("/alerts")).json()["items"] == []
