"""Outgoing safety: targets come only from configuration, TLS is verified.

An alert can name channels, but only channels that the configuration
declares; nothing in an alert's body (labels, details, dedup key) can turn
into a URL that the service calls. The service's own HTTP client verifies
certificates. (Redirects not being followed is covered in test_http_delivery.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from app.main import http_client
from app.notifiers.base import DeliveryError
from app.notifiers.webhook import WebhookNotifier
from app.settings import WebhookChannel
from tests.api.test_errors import assert_error_shape
from tests.helpers import alert_body, wait_for
from tests.notifiers.conftest import MakeNotification, TlsFiles
from tests.peers import HttpReceiver


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def https_url(tls_files: TlsFiles) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Ok)
    server.socket = tls_files.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


async def test_tls_is_verified_by_the_service_client(
    https_url: str, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    config = WebhookChannel(type="webhook", url=https_url)
    async with http_client() as client:
        with pytest.raises(DeliveryError) as refused:
            await WebhookNotifier("hooks", config, client).send(make_notification())
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    # The same server with its certificate trusted: the refusal was the check.
    async with httpx.AsyncClient(verify=tls_files.client_context()) as trusting:
        await WebhookNotifier("hooks", config, trusting).send(make_notification())


async def test_an_alert_cannot_name_a_target(service_factory: Any, http_receiver: HttpReceiver) -> None:
    other = HttpReceiver()  # where a hostile payload would like notifications to go
    try:
        channels = {"hooks": {"type": "webhook", "url": http_receiver.url + "/configured"}}
        async with service_factory(channels=channels, default_channels=["hooks"], real_clock=True) as svc:
            for name in (other.url, "hooks,other", "../hooks"):
                error = assert_error_shape(
                    await svc.client.post("/alerts", json=alert_body(channels=[name])), 422
                )
                assert error["field"] == "channels.0"
            body = alert_body(
                labels={"url": other.url, "webhook": other.url},
                details={"url": other.url, "channel": {"type": "webhook", "url": other.url}},
                dedup_key=other.url,
            )
            created = await svc.client.post("/alerts", json=body)
            assert created.status_code == 201, created.text
            await wait_for(lambda: _count(http_receiver, 1))
            await svc.app.state.dispatcher.drain()
        assert [r.path for r in http_receiver.requests] == ["/configured"]
        assert other.requests == []
    finally:
        other.close()


async def _count(receiver: HttpReceiver, n: int) -> bool:
    return len(receiver.requests) >= n
