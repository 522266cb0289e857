"""submit_many, blocking and asyncio, against a real service process."""

from __future__ import annotations

import pytest

from app.client import AlertClient, AsyncAlertClient, ValidationFailed
from tests.live import LiveService


def test_submit_many_sends_one_batch_and_reads_one_result_per_alert(live_service: LiveService) -> None:
    with AlertClient(live_service.url, source="billing-1") as client:
        sent = client.submit_many(
            [
                {"alert_type": "disk_full", "severity": "high", "message": "/var 91%"},
                {"alert_type": "queue_lag", "severity": "warning", "message": "lag 30s", "source": "queue-1"},
                {"alert_type": "disk_full", "severity": "critical", "message": "/var 99%"},
            ]
        )
        assert [(s.outcome, s.source, s.severity) for s in sent] == [
            ("created", "billing-1", "high"),
            ("created", "queue-1", "medium"),
            ("duplicate", "billing-1", "critical"),
        ]
        assert sent[2].id == sent[0].id and sent[2].occurrences == 2
        with pytest.raises(ValidationFailed) as refused:
            client.submit_many(
                [{"alert_type": "x", "severity": "high", "message": "m"}, {"severity": "high"}]
            )
        assert refused.value.field == "[1].alert_type"
        assert len(client.list_alerts().items) == 2  # the refused batch wrote nothing


async def test_async_submit_many(live_service: LiveService) -> None:
    async with AsyncAlertClient(live_service.url, source="billing-2") as client:
        sent = await client.submit_many([{"alert_type": "disk_full", "severity": "low", "message": "m"}] * 2)
        assert [s.outcome for s in sent] == ["created", "duplicate"]
        assert await client.submit_many([]) == []
