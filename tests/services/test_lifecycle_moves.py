"""Every ordered pair of statuses, tried over the API on both databases.

The table of allowed moves is written out here on purpose, not imported from
app/services/lifecycle.py: a change to the app's table must fail this test.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import Service
from tests.helpers import create_alert, move

STATUSES = ("open", "acknowledged", "in_progress", "resolved", "closed", "reopened")

# DESIGN.md, Lifecycle: anything not listed is a 409.
ALLOWED: dict[str, set[str]] = {
    "open": {"acknowledged", "in_progress", "resolved", "closed"},
    "reopened": {"acknowledged", "in_progress", "resolved", "closed"},
    "acknowledged": {"in_progress", "resolved", "closed"},
    "in_progress": {"resolved", "closed"},
    "resolved": {"closed", "reopened"},
    "closed": {"reopened"},
}

# Allowed moves that bring a new alert (open) to each status.
PATHS: dict[str, list[str]] = {
    "open": [],
    "acknowledged": ["acknowledged"],
    "in_progress": ["in_progress"],
    "resolved": ["resolved"],
    "closed": ["closed"],
    "reopened": ["resolved", "reopened"],
}

PAIRS = [(start, target) for start in STATUSES for target in STATUSES if start != target]


async def detail(client: httpx.AsyncClient, alert_id: str) -> dict[str, Any]:
    response = await client.get(f"/alerts/{alert_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def names(message: str, status: str) -> bool:
    # Word boundaries, so that "reopened" does not count as naming "open".
    return re.search(rf"\b{status}\b", message) is not None


@pytest.mark.parametrize(("start", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
async def test_move(service: Service, start: str, target: str) -> None:
    client = service.client
    alert_id = (await create_alert(client))["id"]
    for step in PATHS[start]:
        response = await move(client, alert_id, step, by="setup")
        assert response.status_code == 200, (step, response.text)
    before = await detail(client, alert_id)
    assert before["status"] == start

    response = await move(client, alert_id, target, by="mover")
    after = await detail(client, alert_id)

    if target in ALLOWED[start]:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
        assert after["status"] == target
        assert after["history"][: len(before["history"])] == before["history"]
        added = after["history"][len(before["history"]) :]
        assert [(e["kind"], e["from_status"], e["to_status"], e["actor"]) for e in added] == [
            ("status", start, target, "mover")
        ]
    else:
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["code"] == "conflict" and body["field"] == "status"
        assert names(body["message"], start) and names(body["message"], target), body["message"]
        assert after["status"] == start
        assert len(after["history"]) == len(before["history"])
        assert after["history"] == before["history"]
