"""Opsgenie: create and close an alert aliased by the alert id, against a real HTTP receiver."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from app.notifiers.base import DeliveryError
from app.notifiers.opsgenie import OpsgenieNotifier
from app.settings import OpsgenieChannel
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

API_KEY = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
ACCEPTED = b'{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c"}'


def opsgenie(receiver: HttpReceiver, client: httpx.AsyncClient, **overrides: Any) -> OpsgenieNotifier:
    values: dict[str, Any] = {"type": "opsgenie", "api_key": API_KEY, "api_url": f"{receiver.url}/"}
    return OpsgenieNotifier("genie", OpsgenieChannel(**(values | overrides)), client)


async def test_create_alert(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(202, body=ACCEPTED)
    notifier = opsgenie(
        http_receiver,
        http_client,
        responders=[{"type": "team", "name": "SRE"}, {"type": "user", "username": "ann@example.com"}],
        tags=["prod", "storage"],
    )

    result = await notifier.send(make_notification())

    assert result.detail == "HTTP 202"
    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", "/v2/alerts")
    assert req.headers["authorization"] == f"GenieKey {API_KEY}"
    assert req.headers["content-type"] == "application/json"
    body = json.loads(req.body)
    description = body.pop("description")
    assert body == {
        "message": "[CRITICAL] disk_full on db-1 (level 3, escalation)",
        "alias": ALERT_ID,
        "priority": "P1",
        "source": "alert-service",
        "entity": "db-1",
        "responders": [{"type": "team", "name": "SRE"}, {"type": "user", "username": "ann@example.com"}],
        "tags": ["prod", "storage"],
        "details": {
            "severity": "critical",
            "alert_type": "disk_full",
            "reason": "escalation",
            "level": "3",
            "console_url": f"http://alerts.example/ui/alerts/{ALERT_ID}",
            "label.env": "prod",
            "label.mount": "/var",
        },
    }
    assert "Disk <b>97%</b> full & rising" in description
    assert f"Open the alert: http://alerts.example/ui/alerts/{ALERT_ID}" in description


async def test_resolved_closes_by_alias(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(202, body=ACCEPTED)
    await opsgenie(http_receiver, http_client).send(make_notification(reason="resolved"))

    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", f"/v2/alerts/{ALERT_ID}/close?identifierType=alias")
    assert req.headers["authorization"] == f"GenieKey {API_KEY}"
    assert json.loads(req.body) == {
        "source": "alert-service",
        "note": "[RESOLVED] disk_full on db-1 (level 3, resolved)",
    }


async def test_acknowledged_acknowledges_by_alias_as_the_person(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(202, body=ACCEPTED)
    await opsgenie(http_receiver, http_client).send(
        make_notification(reason="acknowledged", level=1, status="acknowledged", acknowledged_by="bob")
    )

    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", f"/v2/alerts/{ALERT_ID}/acknowledge?identifierType=alias")
    assert req.headers["authorization"] == f"GenieKey {API_KEY}"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.body) == {
        "source": "alert-service",
        "user": "bob",
        "note": "[CRITICAL] disk_full on db-1 (level 1, acknowledged)",
    }


@pytest.mark.parametrize(
    ("severity", "priority"),
    [("critical", "P1"), ("high", "P2"), ("medium", "P3"), ("low", "P4"), ("info", "P5")],
)
async def test_priority_follows_severity(
    severity: str,
    priority: str,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    await opsgenie(http_receiver, http_client).send(make_notification(severity=severity, reason="new"))
    assert json.loads(http_receiver.requests[0].body)["priority"] == priority


async def test_limits_are_kept(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await opsgenie(http_receiver, http_client).send(
        make_notification(alert_type="t" * 300, message="m" * 20_000, labels={"k": "v" * 5000})
    )
    body = json.loads(http_receiver.requests[0].body)
    assert len(body["message"]) == 130
    assert len(body["description"]) <= 15_000
    assert len(body["details"]["label.k"]) <= 1_000


async def test_channel_test_creates_a_p5_alert_aliased_by_the_notification(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    n = make_notification(test=True, reason="test", channel="genie")
    await opsgenie(http_receiver, http_client).send(n)
    body = json.loads(http_receiver.requests[0].body)
    assert (body["alias"], body["priority"]) == (str(n.id), "P5")
    assert body["message"] == "Test notification from channel genie"


@pytest.mark.parametrize(
    ("status", "permanent"), [(429, False), (500, False), (502, False), (401, True), (422, True)]
)
async def test_retryable_and_permanent_failures(
    status: int,
    permanent: bool,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(status, body=f'{{"message":"Key {API_KEY} is invalid"}}'.encode())
    with pytest.raises(DeliveryError) as caught:
        await opsgenie(http_receiver, http_client).send(make_notification())
    assert caught.value.permanent is permanent
    assert API_KEY not in str(caught.value)


async def test_the_key_is_not_in_repr(http_receiver: HttpReceiver, http_client: httpx.AsyncClient) -> None:
    assert API_KEY not in repr(opsgenie(http_receiver, http_client))
