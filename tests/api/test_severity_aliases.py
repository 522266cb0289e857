"""Severity words from other tools, in any case, on POST /alerts: stored and
answered as the five canonical names; anything else is a 422 naming the field."""

from __future__ import annotations

import pytest

from tests.conftest import Service
from tests.helpers import post_alert


@pytest.mark.parametrize(
    ("word", "canonical"),
    [
        ("warning", "medium"),
        ("WARN", "medium"),
        ("Error", "high"),
        ("err", "high"),
        ("fatal", "critical"),
        ("EMERGENCY", "critical"),
        ("informational", "info"),
        ("notice", "info"),
        ("HIGH", "high"),
        (" low ", "low"),
    ],
)
async def test_an_alias_is_stored_and_answered_canonical(service: Service, word: str, canonical: str) -> None:
    response = await post_alert(service.client, severity=word, source=f"host-{word.strip().lower()}")
    assert response.status_code == 201, response.text
    assert response.json()["severity"] == canonical
    stored = (await service.client.get(f"/alerts/{response.json()['id']}")).json()
    assert stored["severity"] == canonical


async def test_aliases_take_part_in_deduplication(service: Service) -> None:
    first = (await post_alert(service.client, severity="medium")).json()
    same = (await post_alert(service.client, severity="Warning")).json()
    assert (same["id"], same["outcome"], same["notified"]) == (first["id"], "duplicate", False)
    raised = (await post_alert(service.client, severity="ERROR")).json()
    assert (raised["severity"], raised["notified"]) == ("high", True)


async def test_an_unknown_word_is_a_422_naming_severity(service: Service) -> None:
    response = await post_alert(service.client, severity="apocalyptic")
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "severity"
    assert "apocalyptic" in body["message"] and "warning" in body["message"]


async def test_alertmanager_labels_use_the_same_table(service: Service) -> None:
    hook = {
        "version": "4",
        "status": "firing",
        "receiver": "alerts",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db-1", "severity": "ERR"},
                "annotations": {"summary": "disk full"},
                "startsAt": "2026-01-05T09:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    response = await service.client.post("/integrations/alertmanager", json=hook)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert (await service.client.get(f"/alerts/{result['alert_id']}")).json()["severity"] == "high"
