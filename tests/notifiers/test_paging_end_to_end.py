"""PagerDuty and Opsgenie through the whole service: one alert, one incident,
triggered by the new alert, acknowledged by its acknowledgement and
resolved by its resolution."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Service
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver


async def statuses(svc: Service, alert_id: str) -> list[tuple[str, str, str]]:
    detail = (await svc.client.get(f"/alerts/{alert_id}")).json()
    return sorted((n["channel"], n["reason"], n["status"]) for n in detail["notifications"])


async def test_an_alert_triggers_and_resolves_one_incident(
    service_factory: Any, http_receiver: HttpReceiver
) -> None:
    genie = HttpReceiver()
    try:
        channels: dict[str, Any] = {
            "pager": {"type": "pagerduty", "routing_key": "rk-1", "url": f"{http_receiver.url}/v2/enqueue"},
            "genie": {"type": "opsgenie", "api_key": "gk-1", "api_url": genie.url},
        }
        async with service_factory(channels=channels, default_channels=["pager", "genie"]) as svc:
            http_receiver.answer(202, body=b'{"status":"success"}')
            alert = await create_alert(svc.client, severity="high")

            async def sent(count: int) -> bool:
                rows = await statuses(svc, alert["id"])
                return len(rows) == count and all(status == "sent" for *_, status in rows)

            await wait_for(lambda: sent(2))
            response = await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "bob"})
            assert response.status_code == 200
            await wait_for(lambda: sent(4))
            # Exactly one acknowledgement per channel: starting work adds none.
            response = await svc.client.patch(
                f"/alerts/{alert['id']}/status", json={"status": "in_progress", "by": "bob"}
            )
            assert response.status_code == 200
            response = await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "alice"})
            assert response.status_code == 200
            await wait_for(lambda: sent(6))
            assert await statuses(svc, alert["id"]) == sorted(
                (channel, reason, "sent")
                for channel in ("genie", "pager")
                for reason in ("new", "acknowledged", "resolved")
            )

        trigger, acknowledge, resolve = (json.loads(r.body) for r in http_receiver.requests)
        assert acknowledge == {"routing_key": "rk-1", "event_action": "acknowledge", "dedup_key": alert["id"]}
        assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", alert["id"])
        assert trigger["payload"]["severity"] == "error"
        console = f"{svc.settings.public_url.rstrip('/')}/ui/alerts/{alert['id']}"
        assert trigger["payload"]["custom_details"]["console_url"] == console
        assert resolve == {"routing_key": "rk-1", "event_action": "resolve", "dedup_key": alert["id"]}

        create, acked, close = genie.requests
        assert (create.path, json.loads(create.body)["alias"]) == ("/v2/alerts", alert["id"])
        assert json.loads(create.body)["priority"] == "P2"
        assert acked.path == f"/v2/alerts/{alert['id']}/acknowledge?identifierType=alias"
        assert json.loads(acked.body)["user"] == "bob"
        assert close.path == f"/v2/alerts/{alert['id']}/close?identifierType=alias"
    finally:
        genie.close()
