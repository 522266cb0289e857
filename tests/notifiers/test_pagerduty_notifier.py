"""PagerDuty: Events API v2 events, keyed by the alert id, to a real HTTP receiver."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from app.integrations.pagerduty import PagerDutyEvent, check
from app.notifiers.base import DeliveryError
from app.notifiers.pagerduty import PagerDutyNotifier
from app.settings import PagerDutyChannel
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
CONSOLE = f"http://alerts.example/ui/alerts/{ALERT_ID}"
ACCEPTED = b'{"status":"success","message":"Event processed","dedup_key":"x"}'


def pagerduty(receiver: HttpReceiver, client: httpx.AsyncClient) -> PagerDutyNotifier:
    config = PagerDutyChannel(type="pagerduty", routing_key=ROUTING_KEY, url=f"{receiver.url}/v2/enqueue")
    return PagerDutyNotifier("pager", config, client)


def sent(receiver: HttpReceiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests]


async def test_trigger_event(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(202, body=ACCEPTED)

    result = await pagerduty(http_receiver, http_client).send(
        make_notification(details={"disk": "/dev/sda1"})
    )

    assert result.detail == "HTTP 202"
    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", "/v2/enqueue")
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.body) == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": ALERT_ID,
        "payload": {
            "summary": "[CRITICAL] disk_full on db-1 (level 3, escalation): "
            "Disk <b>97%</b> full & rising second line",
            "source": "db-1",
            "severity": "critical",
            "class": "disk_full",
            "timestamp": "2024-05-01T10:00:00+00:00",
            "custom_details": {
                "message": "Disk <b>97%</b> full & rising\nsecond line",
                "labels": {"env": "prod", "mount": "/var"},
                "details": {"disk": "/dev/sda1"},
                "reason": "escalation",
                "level": 3,
                "console_url": CONSOLE,
            },
        },
        "client": "alert-service",
        "client_url": CONSOLE,
        "links": [{"href": CONSOLE, "text": "Open the alert"}],
    }
    # What PagerDuty accepts, as the service's own Events API receiver reads it.
    check(PagerDutyEvent.model_validate_json(req.body))


async def test_resolve_event_names_the_same_dedup_key(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(202, body=ACCEPTED)
    await pagerduty(http_receiver, http_client).send(make_notification(reason="resolved", status="resolved"))

    [req] = http_receiver.requests
    assert json.loads(req.body) == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": ALERT_ID,
    }
    check(PagerDutyEvent.model_validate_json(req.body))


async def test_acknowledged_sends_an_acknowledge_event_on_the_same_dedup_key(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(202, body=ACCEPTED)
    await pagerduty(http_receiver, http_client).send(
        make_notification(reason="acknowledged", status="acknowledged", acknowledged_by="bob")
    )

    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", "/v2/enqueue")
    assert json.loads(req.body) == {
        "routing_key": ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": ALERT_ID,
    }
    check(PagerDutyEvent.model_validate_json(req.body))


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info"), ("info", "info")],
)
@pytest.mark.parametrize("reason", ["new", "repeated", "escalation", "repeat", "reopened", "unsilenced"])
async def test_every_other_reason_triggers_at_the_mapped_severity(
    severity: str,
    expected: str,
    reason: str,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    await pagerduty(http_receiver, http_client).send(make_notification(severity=severity, reason=reason))
    [event] = sent(http_receiver)
    assert (event["event_action"], event["payload"]["severity"]) == ("trigger", expected)


async def test_channel_test_triggers_an_info_event_keyed_by_the_notification(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    n = make_notification(test=True, reason="test", channel="pager")
    await pagerduty(http_receiver, http_client).send(n)
    [event] = sent(http_receiver)
    assert event["dedup_key"] == str(n.id)
    assert event["payload"]["severity"] == "info"
    assert event["payload"]["summary"].startswith("Test notification from channel pager")
    assert "links" not in event
    check(PagerDutyEvent.model_validate(event))


async def test_a_long_message_is_cut_to_the_summary_limit(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await pagerduty(http_receiver, http_client).send(make_notification(message="x" * 5000, source="s" * 400))
    [event] = sent(http_receiver)
    assert len(event["payload"]["summary"]) == 1024
    assert len(event["payload"]["source"]) == 255
    PagerDutyEvent.model_validate(event)


@pytest.mark.parametrize(
    ("status", "permanent"), [(429, False), (500, False), (503, False), (400, True), (403, True)]
)
async def test_retryable_and_permanent_failures(
    status: int,
    permanent: bool,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    # A peer that echoes the request: the key must still not reach the outbox.
    http_receiver.answer(
        status, headers={"Retry-After": "7"}, body=f'{{"routing_key":"{ROUTING_KEY}"}}'.encode()
    )
    with pytest.raises(DeliveryError) as caught:
        await pagerduty(http_receiver, http_client).send(make_notification())
    assert caught.value.permanent is permanent
    assert f"HTTP {status}" in str(caught.value)
    assert ROUTING_KEY not in str(caught.value)
    assert "[redacted]" in str(caught.value)
    if not permanent:
        assert caught.value.retry_after == 7


async def test_the_key_is_not_in_repr(http_receiver: HttpReceiver, http_client: httpx.AsyncClient) -> None:
    assert ROUTING_KEY not in repr(pagerduty(http_receiver, http_client))
