"""An acknowledgement is told to the channels that mirror the alert's state
(PagerDuty, Opsgenie, a Slack app) and were told about the alert, once per
acknowledgement; the other channels are not told."""

from __future__ import annotations

from typing import Any

from tests.conftest import Service
from tests.helpers import create_alert, move

NOWHERE = "http://127.0.0.1:9"
CHANNELS: dict[str, Any] = {
    "pager": {"type": "pagerduty", "routing_key": "rk-1", "url": f"{NOWHERE}/v2/enqueue"},
    "genie": {"type": "opsgenie", "api_key": "gk-1", "api_url": NOWHERE},
    "chat-app": {"type": "slack", "bot_token": "xoxb-1-2-abc", "channel": "#alerts", "api_url": NOWHERE},
    "chat-hook": {"type": "slack", "url": f"{NOWHERE}/services/T/B/X"},
    "hook": {"type": "webhook", "url": f"{NOWHERE}/hook"},
}


async def acknowledged_to(svc: Service, alert_id: str) -> list[str]:
    rows = (await svc.client.get(f"/alerts/{alert_id}")).json()["notifications"]
    return sorted(row["channel"] for row in rows if row["reason"] == "acknowledged")


async def test_only_channels_that_follow_state_are_told(service_factory: Any) -> None:
    async with service_factory(channels=CHANNELS, enable_escalation=False) as svc:
        alert = await create_alert(svc.client, channels=[*CHANNELS, "console"])
        assert (await move(svc.client, alert["id"], "acknowledged", by="bob")).status_code == 200
        assert await acknowledged_to(svc, alert["id"]) == ["chat-app", "genie", "pager"]
        # Starting work on an acknowledged alert acknowledges nothing more.
        assert (await move(svc.client, alert["id"], "in_progress", by="bob")).status_code == 200
        assert await acknowledged_to(svc, alert["id"]) == ["chat-app", "genie", "pager"]


async def test_starting_work_acknowledges_and_channels_never_told_are_not(service_factory: Any) -> None:
    async with service_factory(channels=CHANNELS, enable_escalation=False) as svc:
        paged = await create_alert(svc.client, channels=["pager", "hook"], alert_type="paged")
        assert (await move(svc.client, paged["id"], "in_progress")).status_code == 200
        assert await acknowledged_to(svc, paged["id"]) == ["pager"]

        quiet = await create_alert(svc.client, channels=["hook", "chat-hook"], alert_type="quiet")
        assert (await move(svc.client, quiet["id"], "acknowledged")).status_code == 200
        assert await acknowledged_to(svc, quiet["id"]) == []
        # Resolving is told as before.
        assert (await move(svc.client, quiet["id"], "resolved")).status_code == 200
        rows = (await svc.client.get(f"/alerts/{quiet['id']}")).json()["notifications"]
        assert sorted((r["channel"], r["reason"]) for r in rows if r["reason"] == "resolved") == [
            ("chat-hook", "resolved"),
            ("hook", "resolved"),
        ]
