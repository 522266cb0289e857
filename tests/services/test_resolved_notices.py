"""Resolved notices end to end: each channel's send_resolved, real receivers."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Service, StartSmtp
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver


async def reasons(svc: Service, alert_id: str) -> list[tuple[str, str, str]]:
    detail = (await svc.client.get(f"/alerts/{alert_id}")).json()
    return sorted((n["channel"], n["reason"], n["status"]) for n in detail["notifications"])


async def all_sent(svc: Service, alert_id: str, count: int) -> bool:
    rows = await reasons(svc, alert_id)
    return len(rows) == count and all(status == "sent" for _, _, status in rows)


async def test_defaults_slack_and_webhook_yes_email_no(
    service_factory, http_receiver: HttpReceiver, smtp_server: StartSmtp
) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    slack = HttpReceiver()
    try:
        channels: dict[str, Any] = {
            "mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port, "to": ["oncall@example.com"]},
            "slack": {"type": "slack", "url": slack.url + "/hook"},
            "hooks": {"type": "webhook", "url": http_receiver.url},
        }
        async with service_factory(channels=channels, default_channels=["mail", "slack", "hooks"]) as svc:
            alert = await create_alert(svc.client)
            await wait_for(lambda: all_sent(svc, alert["id"], 3))
            response = await svc.client.patch(
                f"/alerts/{alert['id']}/resolve", json={"resolved_by": "alice", "notes": "disk cleaned"}
            )
            assert response.status_code == 200
            await wait_for(lambda: all_sent(svc, alert["id"], 5))
            assert await reasons(svc, alert["id"]) == [
                ("hooks", "new", "sent"),
                ("hooks", "resolved", "sent"),
                ("mail", "new", "sent"),
                ("slack", "new", "sent"),
                ("slack", "resolved", "sent"),
            ]
            resolved = json.loads(http_receiver.requests[-1].body)
            assert resolved["reason"] == "resolved" and resolved["alert"]["status"] == "resolved"
            assert resolved["alert"]["resolved_by"] == "alice"
            slack_text = slack.requests[-1].body.decode()
            assert "RESOLVED" in slack_text
            assert len(smtp.recorder.delivered) == 1  # the new alert only
    finally:
        slack.close()


async def test_email_with_send_resolved_and_console_without(service_factory, smtp_server: StartSmtp) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    channels = {
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "to": ["a@x.test"],
            "send_resolved": True,
        }
    }
    async with service_factory(channels=channels, default_channels=["mail", "console"]) as svc:
        alert = await create_alert(svc.client)
        await wait_for(lambda: all_sent(svc, alert["id"], 2))
        await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "alice"})
        await wait_for(lambda: all_sent(svc, alert["id"], 3))
        assert ("mail", "resolved", "sent") in await reasons(svc, alert["id"])
        assert ("console", "resolved", "sent") not in await reasons(svc, alert["id"])
        subjects = [m.message["Subject"] for m in smtp.recorder.delivered]
        assert len(subjects) == 2 and "RESOLVED" in subjects[1]


async def test_escalation_channels_that_were_paged_hear_the_resolution(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    escalation = {
        "rules": [{"level": 2, "severities": ["high"], "after_minutes": 30, "channels": ["pager"]}],
    }
    channels = {"pager": {"type": "webhook", "url": http_receiver.url}}
    async with service_factory(channels=channels, escalation=escalation) as svc:
        alert = await create_alert(svc.client)  # to the console only
        svc.clock.advance(minutes=31)
        assert (await svc.client.post("/escalation/tick")).json()["steps"]
        await wait_for(lambda: _received(http_receiver, 1))
        await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "alice"})
        await wait_for(lambda: _received(http_receiver, 2))
        assert [json.loads(r.body)["reason"] for r in http_receiver.requests] == ["escalation", "resolved"]


async def _received(receiver: HttpReceiver, n: int) -> bool:
    return len(receiver.requests) >= n
