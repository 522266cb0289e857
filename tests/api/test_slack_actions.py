"""POST /integrations/slack/actions: the buttons of a Slack app's message,
signed as Slack signs them (with Slack's own SDK), on both databases."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from app.api.auth import hash_key
from app.api.ratelimit import RateLimiter
from tests.conftest import Service
from tests.helpers import create_alert, wait_for
from tests.slack_api import CHANNEL_ID, CHANNEL_NAME, TOKEN, SlackApi

SECRET = "slack-signing-secret-of-the-app"
OTHER_SECRET = "another-apps-signing-secret"
ACTIONS = "/integrations/slack/actions"
ADMIN_KEY = "admin-key-0123456789"


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    api = SlackApi()
    yield api
    api.close()


@asynccontextmanager
async def slack_service(service_factory: Any, api: SlackApi) -> AsyncIterator[Service]:
    def app(secret: str) -> dict[str, Any]:
        return {
            "type": "slack",
            "bot_token": TOKEN,
            "channel": CHANNEL_NAME,
            "api_url": api.url,
            "signing_secret": secret,
        }

    async with service_factory(
        channels={"chat": app(SECRET), "other-chat": app(OTHER_SECRET)},
        default_channels=["chat"],
        # Keys are configured: Slack sends none, its signature stands in for one.
        api_keys=[{"name": "admin", "hash": hash_key(ADMIN_KEY), "scopes": ["admin"]}],
    ) as svc:
        svc.client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield svc


def click(alert_id: str, action: str = "alert_acknowledge", user: dict[str, str] | None = None) -> bytes:
    """A block_actions interaction as Slack posts it: form-encoded `payload`."""
    payload = {
        "type": "block_actions",
        "user": user or {"id": "U0DANA", "username": "dana", "name": "dana", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "team": {"id": "T0TEAM", "domain": "example"},
        "container": {
            "type": "message_attachment",
            "message_ts": "1767600000.000100",
            "channel_id": CHANNEL_ID,
        },
        "channel": {"id": CHANNEL_ID, "name": "alerts"},
        "trigger_id": "123.456.abc",
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": "alert_actions",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "value": alert_id,
                "action_ts": "1767600001.000200",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(svc: Service, body: bytes, *, secret: str = SECRET, age_seconds: float = 0) -> dict[str, str]:
    timestamp = str(int((svc.clock.now - timedelta(seconds=age_seconds)).timestamp()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


async def post(svc: Service, body: bytes, headers: dict[str, str]) -> httpx.Response:
    # Slack sends no API key: the service's own client would.
    return await svc.client.post(ACTIONS, content=body, headers={**headers, "Authorization": ""})


async def posted(svc: Service, api: SlackApi) -> dict[str, Any]:
    alert = await create_alert(svc.client, severity="critical")

    async def sent() -> bool:
        return len(api.messages) == 1

    await wait_for(sent)
    return alert


async def test_acknowledge_button_moves_the_alert_as_the_slack_user(
    service_factory: Any, slack_api: SlackApi
) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        alert = await posted(svc, slack_api)
        body = click(alert["id"])

        response = await post(svc, body, signed(svc, body))

        assert response.status_code == 200, response.text
        assert response.content == b""
        detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
        assert (detail["status"], detail["acknowledged_by"]) == ("acknowledged", "dana")
        assert detail["history"][-1]["note"] == "via Slack"

        async def updated() -> bool:
            return slack_api.only_message().facts().get("Acknowledged by") == "dana"

        await wait_for(updated)
        assert slack_api.only_message().buttons() == {"alert_resolve": alert["id"]}
    assert slack_api.problems == []


async def test_resolve_button_names_the_user_by_name_without_a_username(
    service_factory: Any, slack_api: SlackApi
) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        alert = await posted(svc, slack_api)
        body = click(alert["id"], "alert_resolve", user={"id": "U0EVE", "name": "eve"})
        assert (await post(svc, body, signed(svc, body))).status_code == 200
        detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
        assert (detail["status"], detail["resolved_by"]) == ("resolved", "eve")

        only_id = click(alert["id"], "alert_resolve", user={"id": "U0EVE"})
        answer = await post(svc, only_id, signed(svc, only_id))
        assert answer.status_code == 200
        assert answer.json() == {
            "response_type": "ephemeral",
            "replace_original": False,
            "text": "This alert is already resolved.",
        }

        async def updated() -> bool:
            return slack_api.only_message().facts().get("Status") == "resolved"

        await wait_for(updated)


@pytest.mark.parametrize(
    "case", ["wrong secret", "tampered body", "no signature", "stale", "from the future"]
)
async def test_a_request_slack_did_not_sign_now_is_refused(
    case: str, service_factory: Any, slack_api: SlackApi
) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        alert = await posted(svc, slack_api)
        body = click(alert["id"])
        headers = {
            "wrong secret": lambda: signed(svc, body, secret="not-the-secret"),
            "tampered body": lambda: signed(svc, click(alert["id"], "alert_resolve")),
            "no signature": lambda: {"Content-Type": "application/x-www-form-urlencoded"},
            "stale": lambda: signed(svc, body, age_seconds=301),
            "from the future": lambda: signed(svc, body, age_seconds=-301),
        }[case]()

        response = await post(svc, body, headers)

        assert response.status_code == 401
        assert response.json()["code"] == "bad_signature"
        assert SECRET not in response.text
        detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
        assert detail["status"] == "open"


async def test_a_replayed_request_is_refused(service_factory: Any, slack_api: SlackApi) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        alert = await posted(svc, slack_api)
        body = click(alert["id"])
        headers = signed(svc, body)
        assert (await post(svc, body, headers)).status_code == 200
        svc.clock.advance(seconds=60)  # still within Slack's five minutes

        replay = await post(svc, body, headers)

        assert replay.status_code == 409
        assert replay.json()["code"] == "replayed"
        history = (await svc.client.get(f"/alerts/{alert['id']}")).json()["history"]
        assert [e["to_status"] for e in history if e["kind"] == "status"] == ["acknowledged"]


async def test_another_channels_alert_is_refused(service_factory: Any, slack_api: SlackApi) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        theirs = await create_alert(svc.client, channels=["other-chat"], alert_type="theirs")
        mine = await create_alert(svc.client, channels=["console"], alert_type="quiet")
        for alert in (theirs, mine):
            body = click(alert["id"])
            response = await post(svc, body, signed(svc, body))
            assert response.status_code == 403, response.text
            assert (await svc.client.get(f"/alerts/{alert['id']}")).json()["status"] == "open"
        # The other channel's own secret may.
        body = click(theirs["id"])
        assert (await post(svc, body, signed(svc, body, secret=OTHER_SECRET))).status_code == 200
        assert (await svc.client.get(f"/alerts/{theirs['id']}")).json()["acknowledged_by"] == "dana"


async def test_an_unknown_alert_or_action_is_told_to_the_user(
    service_factory: Any, slack_api: SlackApi
) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        gone = click("0b6f9c52-5d8e-4c51-9a3e-2a9d1f1c7e01")
        answer = await post(svc, gone, signed(svc, gone))
        assert (answer.status_code, answer.json()["text"]) == (200, "This alert no longer exists.")
        alert = await posted(svc, slack_api)
        odd = click(alert["id"], "alert_snooze")
        answer = await post(svc, odd, signed(svc, odd))
        assert (answer.status_code, answer.json()["response_type"]) == (200, "ephemeral")
        bad = b"payload=not-json"
        assert (await post(svc, bad, signed(svc, bad))).status_code == 400


async def test_a_signed_request_is_charged_and_logged_as_its_channel(
    service_factory: Any, slack_api: SlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    """The signature stands in for a key: the same rate limit and access line."""
    async with slack_service(service_factory, slack_api) as svc:
        alert = await posted(svc, slack_api)
        svc.app.state.rate_limiter = RateLimiter(per_minute=1, burst=1)  # one request a minute per caller
        caplog.set_level(logging.INFO, logger="app.access")
        first = click(alert["id"])
        assert (await post(svc, first, signed(svc, first))).status_code == 200
        lines = [
            r for r in caplog.records if r.name == "app.access" and r.__dict__["key_name"] == "slack:chat"
        ]
        assert [r.__dict__["path"] for r in lines] == [ACTIONS]
        second = click(alert["id"], action="alert_resolve")
        refused = await post(svc, second, signed(svc, second))
        assert refused.status_code == 429, refused.text
        assert "Retry-After" in refused.headers
