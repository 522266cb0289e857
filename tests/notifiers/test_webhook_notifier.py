"""Webhook: method, headers, idempotency key and an HMAC the receiver can check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.notifiers.webhook import WebhookNotifier
from app.settings import WebhookChannel

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

SECRET = "whsec-0123456789"


def webhook(receiver: HttpReceiver, client: httpx.AsyncClient, **overrides: Any) -> WebhookNotifier:
    values: dict[str, Any] = {"type": "webhook", "url": f"{receiver.url}/hooks/alerts"}
    return WebhookNotifier("hooks", WebhookChannel(**(values | overrides)), client)


async def test_post_body_and_headers(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    n = make_notification()
    notifier = webhook(
        http_receiver,
        http_client,
        headers={"Authorization": "Bearer tok", "X-Team": "sre"},
    )

    result = await notifier.send(n)

    assert result.detail == "HTTP 200"
    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", "/hooks/alerts")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"] == "Bearer tok"
    assert req.headers["x-team"] == "sre"
    assert req.headers["idempotency-key"] == str(n.id)
    assert req.headers["x-alert-notification-id"] == str(n.id)
    assert "x-alert-signature" not in req.headers  # no secret, no signature
    assert json.loads(req.body) == {
        "notification_id": str(n.id),
        "reason": "escalation",
        "level": 3,
        "channel": "ops",
        "created_at": "2024-05-01T11:00:00+00:00",
        "alert": n.alert,
        "alert_url": n.alert_url,
        "console_url": n.console_url,
    }
    assert b": " not in req.body  # compact separators


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_configured_method_is_used(
    method: str,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    await webhook(http_receiver, http_client, method=method).send(make_notification())
    assert [r.method for r in http_receiver.requests] == [method]
    assert json.loads(http_receiver.requests[0].body)["reason"] == "escalation"


async def test_signature_verifies_over_the_raw_body(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    notifier = webhook(http_receiver, http_client, secret=SECRET)

    await notifier.send(make_notification())

    [req] = http_receiver.requests
    expected = hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["x-alert-signature"], f"sha256={expected}")
    wrong = hmac.new(b"other", req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-alert-signature"] != f"sha256={wrong}"


async def test_our_headers_win_over_configured_ones(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    n = make_notification()
    notifier = webhook(
        http_receiver,
        http_client,
        secret=SECRET,
        headers={
            "x-alert-signature": "sha256=forged",
            "content-type": "text/plain",
            "Idempotency-Key": "fixed",
        },
    )

    await notifier.send(n)

    [req] = http_receiver.requests
    assert req.headers["content-type"] == "application/json"
    assert req.headers["idempotency-key"] == str(n.id)
    assert req.headers["x-alert-signature"] != "sha256=forged"


async def test_retries_carry_the_same_idempotency_key_and_body(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    n = make_notification()
    notifier = webhook(http_receiver, http_client, secret=SECRET)
    await notifier.send(n)
    await notifier.send(n)
    first, second = http_receiver.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body


async def test_secret_is_not_in_repr(http_receiver: HttpReceiver, http_client: httpx.AsyncClient) -> None:
    notifier = webhook(http_receiver, http_client, secret=SECRET, url=f"{http_receiver.url}/h?token=abc")
    assert SECRET not in repr(notifier)
    assert "token=abc" not in repr(notifier)


# --- Standard Webhooks -------------------------------------------------------------

STANDARD_KEY = b"\x01\x02standard-webhooks-key\xfe\xff"
WHSEC = "whsec_" + base64.b64encode(STANDARD_KEY).decode()


@pytest.mark.parametrize(
    ("secret", "library_secret"),
    [
        (WHSEC, WHSEC),  # the spec's form: the library decodes it as we do
        (SECRET, SECRET.encode()),  # any other secret: its UTF-8 bytes are the key
    ],
    ids=["whsec", "raw"],
)
async def test_standard_webhooks_library_verifies_what_the_receiver_got(
    secret: str,
    library_secret: str | bytes,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    n = make_notification()
    await webhook(http_receiver, http_client, secret=secret).send(n)

    [req] = http_receiver.requests
    assert req.headers["webhook-id"] == str(n.id)
    assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 60
    assert req.headers["webhook-signature"].startswith("v1,")
    payload = Webhook(library_secret).verify(req.body, req.headers)
    assert payload["notification_id"] == str(n.id)
    # The old header is still there, keyed by the secret as written.
    expected = hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-alert-signature"] == f"sha256={expected}"


async def test_standard_signature_is_over_id_timestamp_and_body(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    n = make_notification()
    config = WebhookChannel(type="webhook", url=f"{http_receiver.url}/hooks", secret=WHSEC)
    await WebhookNotifier("hooks", config, http_client, clock=lambda: 1_714_561_200.7).send(n)

    [req] = http_receiver.requests
    assert req.headers["webhook-timestamp"] == "1714561200"
    signed = f"{n.id}.1714561200.".encode() + req.body
    digest = base64.b64encode(hmac.new(STANDARD_KEY, signed, hashlib.sha256).digest()).decode()
    assert req.headers["webhook-signature"] == f"v1,{digest}"
    with pytest.raises(WebhookVerificationError):  # a tampered body does not verify
        Webhook(WHSEC).verify(req.body.replace(b"escalation", b"resolved"), req.headers)


async def test_no_secret_no_standard_headers(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    await webhook(http_receiver, http_client).send(make_notification())
    assert (
        not {"webhook-id", "webhook-timestamp", "webhook-signature"}
        & http_receiver.requests[0].headers.keys()
    )


async def test_a_whsec_secret_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="whsec_ secret must be base64") as caught:
        WebhookChannel(type="webhook", url="http://127.0.0.1:9/h", secret="whsec_not base64!")
    assert "not base64!" not in str(caught.value)
