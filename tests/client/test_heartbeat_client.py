"""The client's heartbeat methods, blocking and asyncio, against a real service process."""

from __future__ import annotations

import pytest

from app.client import AlertClient, AsyncAlertClient, NotFound, ValidationFailed
from tests.live import LiveService


def test_sync_client_beats_lists_and_retires(live_service: LiveService) -> None:
    with AlertClient(live_service.url) as client:
        first = client.heartbeat(
            "etl:hourly", timeout_seconds=3900, severity="warning", labels={"env": "prod"}
        )
        assert (first.name, first.state, first.severity, first.timeout_seconds) == (
            "etl:hourly",
            "up",
            "medium",
            3900,
        )
        again = client.heartbeat("etl:hourly", message="the hourly ETL did not report")
        assert again.last_beat_at >= first.last_beat_at and again.timeout_seconds == 3900
        assert [h.name for h in client.list_heartbeats(state=["up"])] == ["etl:hourly"]
        assert client.get_heartbeat("etl:hourly").message == "the hourly ETL did not report"
        assert client.retire_heartbeat("etl:hourly").name == "etl:hourly"
        with pytest.raises(NotFound):
            client.get_heartbeat("etl:hourly")
        with pytest.raises(ValidationFailed) as refused:
            client.heartbeat("nightly backup?")
        assert refused.value.field == "name"


async def test_async_client_beats(live_service: LiveService) -> None:
    async with AsyncAlertClient(live_service.url) as client:
        beat = await client.heartbeat("nightly-backup", timeout_seconds=90000)
        assert (beat.state, beat.alert_id) == ("up", None)
        assert [h.name for h in await client.list_heartbeats()] == ["nightly-backup"]
        assert (await client.retire_heartbeat("nightly-backup")).timeout_seconds == 90000
