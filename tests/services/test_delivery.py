"""The outbox and the delivery worker against real peers: HTTP receivers on
127.0.0.1 and an SMTP server in the test process.

The app's clock is the test's FakeClock, so retry schedules are exact: a
retry becomes due only when the test moves the clock and wakes the worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.services.dispatcher import Dispatcher
from tests.conftest import Service, StartSmtp, make_settings
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver
from tests.replicas import replica_dispatchers

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)


async def notifications_of(svc: Service, alert_id: str) -> list[dict[str, Any]]:
    detail = (await svc.client.get(f"/alerts/{alert_id}")).json()
    rows: list[dict[str, Any]] = detail["notifications"]
    return rows


async def settle(svc: Service, alert_id: str, channel: str, status: str) -> dict[str, Any]:
    """Wait until the alert's notification to `channel` has `status`."""
    found: dict[str, Any] = {}

    async def check() -> bool:
        for row in await notifications_of(svc, alert_id):
            if row["channel"] == channel and row["status"] == status:
                found.update(row)
                return True
        return False

    await wait_for(check)
    return found


def webhook(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, **extra}


def retry_now(svc: Service, seconds: float = 400) -> None:
    """Move past any backoff (retry_max_seconds is 300) and wake the worker."""
    svc.clock.advance(seconds=seconds)
    svc.app.state.wake_delivery()


async def test_webhook_delivery_signed_with_idempotency_key(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    channels = {
        "hooks": webhook(
            http_receiver.url + "/in", method="PATCH", secret="topsecret", headers={"X-Team": "infra"}
        )
    }
    async with service_factory(channels=channels) as svc:
        alert = await create_alert(svc.client, channels=["hooks"])
        row = await settle(svc, alert["id"], "hooks", "sent")
        assert row["attempts"] == 1 and row["last_error"] is None and row["duration_ms"] > 0
        [request] = http_receiver.requests
        assert request.method == "PATCH" and request.path == "/in" and request.headers["x-team"] == "infra"
        assert request.headers["idempotency-key"] == row["id"]
        expected = hmac.new(b"topsecret", request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-alert-signature"] == f"sha256={expected}"
        body = json.loads(request.body)
        assert body["alert"]["id"] == alert["id"] and body["reason"] == "new"
        assert (await svc.client.get(f"/alerts/{alert['id']}")).json()["notifications_sent"] == 1


async def test_links_open_the_console_page_and_a_webhook_also_gets_the_api_url(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    slack = HttpReceiver()
    try:
        channels = {"hooks": webhook(http_receiver.url), "chat": {"type": "slack", "url": slack.url}}
        async with service_factory(
            channels=channels, default_channels=["hooks", "chat"], public_url="https://alerts.example.com/"
        ) as svc:
            alert = await create_alert(svc.client)
            await settle(svc, alert["id"], "hooks", "sent")
            await settle(svc, alert["id"], "chat", "sent")
    finally:
        slack.close()
    console = f"https://alerts.example.com/ui/alerts/{alert['id']}"
    body = json.loads(http_receiver.requests[0].body)
    assert body["console_url"] == console
    assert body["alert_url"] == f"https://alerts.example.com/alerts/{alert['id']}"  # for programs
    [block] = [
        b
        for b in json.loads(slack.requests[0].body)["attachments"][0]["blocks"]
        if "Open the alert" in str(b)
    ]
    assert block["text"]["text"] == f"<{console}|Open the alert>"


async def test_two_failures_then_success_is_delivered_on_the_third_attempt(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer_sequence([500, 500, 200])
    async with service_factory(
        channels={"hooks": webhook(http_receiver.url)}, default_channels=["hooks"]
    ) as svc:
        alert = await create_alert(svc.client)
        first = await settle(svc, alert["id"], "hooks", "pending")
        await wait_for(lambda: _attempts_at_least(svc, alert["id"], 1))
        first = (await notifications_of(svc, alert["id"]))[0]
        assert "500" in first["last_error"]
        retry_at = datetime.fromisoformat(first["next_attempt_at"])
        assert retry_at > svc.clock.now  # backed off, not hammering
        retry_now(svc)
        await wait_for(lambda: _attempts_at_least(svc, alert["id"], 2))
        retry_now(svc)
        row = await settle(svc, alert["id"], "hooks", "sent")
        assert row["attempts"] == 3 and len(http_receiver.requests) == 3


async def _attempts_at_least(svc: Service, alert_id: str, n: int) -> bool:
    rows = await notifications_of(svc, alert_id)
    return bool(rows) and rows[0]["attempts"] >= n and rows[0]["status"] != "sending"


async def test_always_failing_channel_ends_failed_after_max_attempts(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer(503, body=b"down for maintenance")
    async with service_factory(
        channels={"hooks": webhook(http_receiver.url)}, default_channels=["hooks"], max_attempts=3
    ) as svc:
        alert = await create_alert(svc.client)
        for n in (1, 2):
            await wait_for(lambda n=n: _attempts_at_least(svc, alert["id"], n))  # type: ignore[misc]
            retry_now(svc)
        row = await settle(svc, alert["id"], "hooks", "failed")
        assert row["attempts"] == 3 and "503" in row["last_error"]
        assert len(http_receiver.requests) == 3
        retry_now(svc)
        await asyncio.sleep(0.2)
        assert len(http_receiver.requests) == 3  # failed means no more attempts


async def test_permanent_error_is_not_retried(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer(404)
    async with service_factory(
        channels={"hooks": webhook(http_receiver.url)}, default_channels=["hooks"]
    ) as svc:
        alert = await create_alert(svc.client)
        row = await settle(svc, alert["id"], "hooks", "failed")
        assert row["attempts"] == 1


async def test_retry_after_is_honoured(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer(429, headers={"Retry-After": "7"})
    async with service_factory(
        channels={"hooks": webhook(http_receiver.url)}, default_channels=["hooks"], retry_base_seconds=0.01
    ) as svc:
        alert = await create_alert(svc.client)
        await wait_for(lambda: _attempts_at_least(svc, alert["id"], 1))
        row = (await notifications_of(svc, alert["id"]))[0]
        assert datetime.fromisoformat(row["next_attempt_at"]) - svc.clock.now == timedelta(seconds=7)


async def test_hanging_receiver_is_cut_by_the_channel_timeout(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer(200, delay=30)
    async with service_factory(
        channels={"hooks": webhook(http_receiver.url, timeout_seconds=0.3)}, default_channels=["hooks"]
    ) as svc:
        started = time.monotonic()
        alert = await create_alert(svc.client)
        await wait_for(lambda: _attempts_at_least(svc, alert["id"], 1))
        assert time.monotonic() - started < 5
        row = (await notifications_of(svc, alert["id"]))[0]
        assert row["status"] == "pending" and "time" in row["last_error"].lower()


async def test_a_slow_channel_does_not_delay_another(service_factory) -> None:  # type: ignore[no-untyped-def]
    slow, fast = HttpReceiver(), HttpReceiver()
    slow.answer(200, delay=3)
    try:
        channels = {"slow": webhook(slow.url), "fast": webhook(fast.url)}
        async with service_factory(channels=channels) as svc:
            alert = await create_alert(svc.client, channels=["slow", "fast"])
            await settle(svc, alert["id"], "fast", "sent")
            # The fast one is delivered while the slow one is still in flight.
            statuses = {r["channel"]: r["status"] for r in await notifications_of(svc, alert["id"])}
            assert statuses == {"fast": "sent", "slow": "sending"}
            assert fast.request_times[0] < slow.request_times[0] + 3
            await settle(svc, alert["id"], "slow", "sent")
    finally:
        slow.close()
        fast.close()


async def test_rows_abandoned_by_a_dead_worker_are_delivered_after_the_lease(
    service_factory,
    http_receiver: HttpReceiver,  # type: ignore[no-untyped-def]
) -> None:
    async with service_factory(
        channels={"hooks": webhook(http_receiver.url)}, default_channels=["hooks"], delivery_poll_seconds=3600
    ) as svc:
        await svc.app.state.delivery_worker.stop()
        # Stand in for a worker that claims, then dies before sending.
        alert = await create_alert(svc.client)
        claimed = await svc.app.state.store.claim(now=svc.clock.now, limit=10, lease_seconds=60)
        assert [c.alert_id for c in claimed] and (await notifications_of(svc, alert["id"]))[0][
            "status"
        ] == "sending"
        dispatcher: Dispatcher = svc.app.state.dispatcher
        assert await dispatcher.run_once() == 0  # still leased to the dead worker
        svc.clock.advance(seconds=61)
        assert await dispatcher.run_once() == 1
        await dispatcher.drain()
        row = (await notifications_of(svc, alert["id"]))[0]
        assert row["status"] == "sent" and row["attempts"] == 2
        assert len(http_receiver.requests) == 1


async def test_channels_report_figures_without_secrets(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    channels = {
        "hooks": webhook(http_receiver.url, secret="never-shown"),
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "port": 9,
            "to": ["a@x.test"],
            "password": "smtp-pass",
        },
    }
    async with service_factory(channels=channels, default_channels=["hooks"]) as svc:
        alert = await create_alert(svc.client)
        await settle(svc, alert["id"], "hooks", "sent")
        response = await svc.client.get("/channels")
        assert "never-shown" not in response.text and "smtp-pass" not in response.text
        figures = {c["name"]: c for c in response.json()}
        assert set(figures) == {"console", "hooks", "mail"}
        assert figures["hooks"]["type"] == "webhook" and figures["hooks"]["sent"] == 1
        assert figures["hooks"]["success_rate"] == 1.0 and figures["hooks"]["mean_latency_ms"] > 0
        assert figures["mail"]["sent"] == 0 and figures["mail"]["success_rate"] is None


async def test_channel_test_is_queued_and_delivered(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(channels={"hooks": webhook(http_receiver.url)}) as svc:
        response = await svc.client.post("/channels/hooks/test")
        assert response.status_code == 202
        queued = response.json()
        await wait_for(lambda: _received(http_receiver, 1))
        body = json.loads(http_receiver.requests[0].body)
        assert body["reason"] == "test" and body["notification_id"] == queued["notification_id"]
        missing = await svc.client.post("/channels/nope/test")
        assert missing.status_code == 404 and missing.json()["field"] == "name"


async def _received(receiver: HttpReceiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def test_one_alert_reaches_all_four_channels(
    service_factory,
    http_receiver: HttpReceiver,
    smtp_server: StartSmtp,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    smtp = smtp_server()
    slack = HttpReceiver()
    try:
        channels = {
            "ops-email": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp.port,
                "to": ["oncall@example.com", "lead@example.com"],
            },
            "slack": {"type": "slack", "url": slack.url + "/services/T0/B0/x"},
            "hooks": webhook(http_receiver.url),
        }
        caplog.set_level("INFO")
        async with service_factory(channels=channels) as svc:
            alert = await create_alert(
                svc.client, channels=["ops-email", "slack", "hooks", "console"], severity="critical"
            )
            for channel in ("ops-email", "slack", "hooks", "console"):
                await settle(svc, alert["id"], channel, "sent")
            [mail] = smtp.recorder.delivered
            assert set(mail.rcpt_tos) == {"oncall@example.com", "lead@example.com"}
            assert "CRITICAL" in mail.message["Subject"] and "disk_full" in mail.message["Subject"]
            assert {part.get_content_type() for part in mail.message.walk()} >= {"text/plain", "text/html"}
            slack_body = json.loads(slack.requests[0].body)
            assert "attachments" in slack_body and slack_body["attachments"][0]["color"]
            assert json.loads(http_receiver.requests[0].body)["alert"]["id"] == alert["id"]
            assert any(
                alert["id"] in record.getMessage() or alert["id"] in str(record.__dict__)
                for record in caplog.records
            )
            detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
            assert detail["notifications_sent"] == 4
            assert all(n["attempts"] == 1 for n in detail["notifications"])
    finally:
        slack.close()


@pytest.mark.parametrize("database_url", ["postgresql", "postgresql-pgbouncer"], indirect=True)
@pytest.mark.parametrize("one_statement", [True, False], ids=["one-statement", "orm"])
async def test_two_workers_on_postgres_deliver_every_row_exactly_once(
    clean_database: str, http_receiver: HttpReceiver, one_statement: bool
) -> None:
    settings = make_settings(
        clean_database,
        channels={"hooks": webhook(http_receiver.url)},
        default_channels=["hooks"],
        delivery_concurrency=8,
    )
    from app.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await app.state.delivery_worker.stop()
            for i in range(100):
                response = await client.post(
                    "/alerts", json={"alert_type": "t", "severity": "low", "message": "m", "source": f"s{i}"}
                )
                assert response.status_code == 201
    # Two independent workers, each with its own engine (and pool for the
    # one-statement claims and results), racing over the rows.
    async with replica_dispatchers(
        clean_database, settings, one_statement=one_statement, clock=_utc_now
    ) as workers:

        async def run(worker: Dispatcher) -> int:
            total = 0
            for _ in range(200):
                total += await worker.run_once()
                await asyncio.sleep(0.005)
            await worker.drain()
            return total

        counts = await asyncio.gather(*(run(w) for w in workers))
    ids = [r.headers["idempotency-key"] for r in http_receiver.requests]
    assert len(ids) == 100 and len(set(ids)) == 100
    assert sum(counts) == 100 and all(c > 0 for c in counts), counts


def _utc_now() -> datetime:
    from app.api.deps import utc_now

    return utc_now()


async def test_a_retry_goes_out_after_its_backoff_not_at_the_next_poll(
    service_factory,
    http_receiver: HttpReceiver,  # type: ignore[no-untyped-def]
) -> None:
    """With a poll of a minute and a backoff under a second, the attempts after
    failures come within seconds: the worker wakes for the earliest retry."""
    http_receiver.answer_sequence([500, 500, 200])
    async with service_factory(
        real_clock=True,
        channels={"hooks": webhook(http_receiver.url)},
        default_channels=["hooks"],
        retry_base_seconds=0.2,
        retry_max_seconds=0.5,
        max_attempts=3,
        delivery_poll_seconds=60,
    ) as svc:
        alert = await create_alert(svc.client)
        started = time.monotonic()

        async def sent() -> bool:
            rows = await notifications_of(svc, alert["id"])
            return bool(rows) and rows[0]["status"] == "sent"

        await wait_for(sent, timeout=10)
        assert time.monotonic() - started < 10  # the poll alone would have taken two minutes
        [row] = await notifications_of(svc, alert["id"])
        assert row["attempts"] == 3 and len(http_receiver.requests) == 3
