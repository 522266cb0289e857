"""app.client against a real service process, and its retry and error rules
against real HTTP peers on 127.0.0.1.

Every method is tested against the live service, never a recorded answer,
so client and server cannot drift apart.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.client import (
    AlertClient,
    AsyncAlertClient,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Statistics,
    Unauthorized,
    ValidationFailed,
)
from tests.live import LiveService
from tests.peers import HttpReceiver, Reply, free_port


def no_sleep(log: list[float]) -> Any:
    return log.append


def test_sync_client_full_lifecycle(live_service: LiveService) -> None:
    with AlertClient(live_service.url, api_key="k", source="billing-1", actor="alice") as client:
        assert client.ready()
        sent = client.send_alert(
            alert_type="disk_full",
            severity="high",
            message="/var 91%",
            labels={"mount": "/var"},
            channels=["console"],
        )
        assert sent.outcome == "created" and sent.notified and sent.source == "billing-1"
        again = client.send_alert(
            alert_type="disk_full", severity="high", message="/var 93%", labels={"mount": "/var"}
        )
        assert again.outcome == "duplicate" and again.id == sent.id and again.occurrences == 2
        page = client.list_alerts(status=["open"], severity=["high"])
        assert [a.id for a in page.items] == [sent.id] and page.next_cursor is None
        found = client.list_alerts(labels={"mount": "/var"}, text="VAR 93")
        assert [a.id for a in found.items] == [sent.id]
        assert client.list_alerts(labels={"mount": "/tmp"}).items == []
        acked = client.acknowledge(sent.id, note="looking")
        assert acked.status == "acknowledged" and acked.acknowledged_by == "alice"
        resolved = client.resolve_alert(sent.id, resolved_by="bob", notes="cleaned /var")
        assert resolved.status == "resolved" and resolved.resolution_notes == "cleaned /var"
        assert resolved.resolution_minutes is not None
        closed = client.change_status(sent.id, "closed")
        assert closed.status == "closed"
        detail = client.get_alert(sent.id)
        assert [e.to_status for e in detail.history if e.kind == "status"] == [
            "acknowledged",
            "resolved",
            "closed",
        ]
        assert detail.notifications[0].channel == "console"
        tick = client.check_escalations()
        assert tick.steps == []
        assert client.get_escalation_policy().name == "default"
        assert [c.name for c in client.list_channels()] == ["console"]
        silence = client.create_silence(
            matchers=[{"name": "alert_type", "value": "deploy_.*", "is_regex": True}],
            duration_minutes=30,
            comment="release train",
        )
        assert silence.state == "active" and silence.created_by == "alice"
        assert [s.id for s in client.list_silences(state=["active"])] == [silence.id]
        assert client.expire_silence(silence.id).state == "expired"

        with pytest.raises(NotFound) as missing:
            client.get_alert("00000000-0000-0000-0000-000000000000")
        assert missing.value.status_code == 404 and missing.value.field == "id"
        with pytest.raises(Conflict) as refused:
            client.acknowledge(sent.id)
        assert "closed" in refused.value.message
        with pytest.raises(ValidationFailed) as invalid:
            client.send_alert(alert_type="x", severity="urgent", message="m")
        assert invalid.value.field == "severity"


async def test_async_client_against_the_live_service(live_service: LiveService) -> None:
    async with AsyncAlertClient(live_service.url, source="web-1", actor="carol") as client:
        assert await client.ready()
        sent = await client.send_alert(alert_type="cpu_high", severity="critical", message="CPU 97%")
        assert sent.outcome == "created"
        acked = await client.acknowledge(sent.id)
        assert acked.acknowledged_by == "carol"
        resolved = await client.resolve_alert(sent.id, notes="scaled out")
        assert resolved.status == "resolved" and resolved.resolved_by == "carol"
        assert (await client.get_alert(sent.id)).resolution_notes == "scaled out"
        assert (await client.check_escalations()).steps == []
        with pytest.raises(NotFound):
            await client.resolve_alert("00000000-0000-0000-0000-000000000000")


def test_get_statistics_reads_what_the_service_counts(live_service: LiveService) -> None:
    with AlertClient(live_service.url, api_key="k", source="stats-1", actor="alice") as client:
        first = client.send_alert(alert_type="disk_full", severity="high", message="/var 91%")
        client.send_alert(alert_type="disk_full", severity="high", message="/var 93%")  # a duplicate
        client.send_alert(alert_type="cpu_high", severity="medium", message="load 9")
        client.resolve_alert(first.id, notes="cleaned")
        stats = client.get_statistics(since=datetime(2026, 1, 1, tzinfo=UTC))
    assert isinstance(stats, Statistics)
    assert (stats.total, stats.active, stats.resolved) == (2, 1, 1)
    assert stats.alerts.by_severity == {"info": 0, "low": 0, "medium": 1, "high": 1, "critical": 0}
    assert stats.alerts.by_type == {"disk_full": 1, "cpu_high": 1}
    assert stats.deduplication.submissions == 3 and stats.deduplication.suppressed == 1
    assert stats.resolution.mean_minutes is not None
    assert stats.as_dict()["alerts"]["total"] == 2


def test_503_is_retried_with_backoff_and_retry_after(http_receiver: HttpReceiver) -> None:
    http_receiver.answer_sequence([503, 503, 200])
    http_receiver._queued[1] = Reply(503, {"Retry-After": "3"}, b"{}")
    http_receiver.reply = Reply(200, {"Content-Type": "application/json"}, b'{"status": "ready"}')
    slept: list[float] = []
    with AlertClient(http_receiver.url, sleep=slept.append, backoff_seconds=0.5) as client:
        assert client.ready()
    assert len(http_receiver.requests) == 3
    assert 0 <= slept[0] <= 0.5 and slept[1] == 3.0


def test_503_that_lasts_raises_service_unavailable(http_receiver: HttpReceiver) -> None:
    body = json.dumps({"code": "database_unavailable", "message": "the database is unavailable; retry later"})
    http_receiver.reply = Reply(503, {"Content-Type": "application/json"}, body.encode())
    slept: list[float] = []
    with (
        AlertClient(http_receiver.url, retries=2, sleep=slept.append) as client,
        pytest.raises(ServiceUnavailable) as exc,
    ):
        client.send_alert(alert_type="t", severity="low", message="m")
    assert exc.value.code == "database_unavailable" and len(http_receiver.requests) == 3 and len(slept) == 2


def test_connection_errors_are_retried_until_the_service_is_up() -> None:
    port = free_port()
    servers: list[ThreadingHTTPServer] = []

    def come_up(_: float) -> None:
        # The first backoff is when the service starts listening.
        if not servers:
            servers.append(_json_server(port, {"status": "ready"}))

    try:
        with AlertClient(f"http://127.0.0.1:{port}", sleep=come_up) as client:
            assert client.ready()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_unreachable_service_raises_connection_failed_after_the_retries() -> None:
    slept: list[float] = []
    with (
        AlertClient(f"http://127.0.0.1:{free_port()}", retries=2, sleep=slept.append) as client,
        pytest.raises(ConnectionFailed) as exc,
    ):
        client.send_alert(alert_type="t", severity="low", message="m")
    assert "after 3 attempt(s)" in str(exc.value) and len(slept) == 2 and exc.value.status_code is None


def test_a_post_that_may_have_arrived_is_not_sent_twice(http_receiver: HttpReceiver) -> None:
    http_receiver.answer(200, delay=5)
    with (
        AlertClient(http_receiver.url, timeout=0.3, sleep=lambda _: None) as client,
        pytest.raises(ConnectionFailed),
    ):
        client.send_alert(alert_type="t", severity="low", message="m")
    assert len(http_receiver.requests) == 1


@pytest.mark.parametrize(("status", "error"), [(401, Unauthorized), (403, Forbidden)])
def test_auth_answers_map_to_their_exceptions(
    http_receiver: HttpReceiver, status: int, error: type[Exception]
) -> None:
    body = json.dumps({"code": "unauthorized", "message": "missing or unknown API key"}).encode()
    http_receiver.reply = Reply(status, {"Content-Type": "application/json"}, body)
    with AlertClient(http_receiver.url, api_key="nope") as client, pytest.raises(error) as exc:
        client.list_alerts()
    assert "API key" in str(exc.value)


def _json_server(port: int, body: dict[str, Any]) -> ThreadingHTTPServer:
    payload = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server
