"""The console's channels page, in process (app/ui/channels.py): the figures
GET /channels gives, the outstanding error, and a test notification sent
from the page to a real HTTP receiver."""

from __future__ import annotations

import json
import re

import httpx

from app.api.auth import hash_key
from tests.conftest import Service
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver

READER_KEY = "channels-reader-key-0123456789"
MANAGER_KEY = "channels-manager-key-0123456789"
KEYS = [
    {"name": "reader", "hash": hash_key(READER_KEY), "scopes": ["read"]},
    {"name": "oncall", "hash": hash_key(MANAGER_KEY), "scopes": ["read", "alerts:manage"]},
]
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def csrf_of(client: httpx.AsyncClient, page: str = "/ui/channels") -> str:
    answer = await client.get(page)
    assert answer.status_code == 200, answer.text
    found = _CSRF.search(answer.text)
    assert found, "no csrf-token meta tag"
    return found.group(1)


def row_of(page: str, channel: str) -> str:
    return page.split(f'<tr data-channel="{channel}">')[1].split("</tr>")[0]


def figure(row: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}"[^>]*>(.*?)</td>', row, re.S)
    assert found, name
    return found.group(1).strip()


async def test_the_page_shows_each_channel_with_the_apis_figures(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    channels = {"hooks": {"type": "webhook", "url": http_receiver.url}}
    async with service_factory(channels=channels, default_channels=["hooks"]) as svc:
        await create_alert(svc.client)
        await wait_for(lambda: _sent(svc, "hooks", 1))
        api = {c["name"]: c for c in (await svc.client.get("/channels")).json()}

        page = await svc.client.get("/ui/channels")
        assert page.status_code == 200
        assert 'data-testid="send-test"' in page.text and "open mode" in page.text
        for name in ("console", "hooks"):
            row = row_of(page.text, name)
            assert api[name]["type"] in row
            for key in ("sent", "failed", "pending", "silenced"):
                assert figure(row, key) == str(api[name][key]), (name, key)
        hooks = row_of(page.text, "hooks")
        assert figure(hooks, "sent") == "1" and figure(hooks, "success_rate") == "100.0 %"
        assert figure(hooks, "mean_latency") != "\u2013" and figure(hooks, "last_error") == ""


async def _sent(svc: Service, channel: str, n: int) -> bool:
    figures = {c["name"]: c for c in (await svc.client.get("/channels")).json()}
    return bool(figures[channel]["sent"] >= n)


async def test_send_test_posts_a_real_notification_and_shows_the_outcome(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    channels = {"hooks": {"type": "webhook", "url": http_receiver.url + "/in", "secret": "s3cret"}}
    async with service_factory(channels=channels) as svc:
        client = svc.client
        csrf = await csrf_of(client)
        answer = await client.post("/ui/channels/hooks/test", data={"csrf": csrf})
        assert answer.status_code == 303, answer.text
        location = answer.headers["location"]
        test_id = location.removeprefix("/ui/channels?test=")
        assert location.startswith("/ui/channels?test=") and len(test_id) == 36

        async def delivered() -> bool:
            page = (await client.get(location)).text
            return 'data-status="sent"' in page

        await wait_for(delivered)
        [request] = http_receiver.requests
        assert request.method == "POST" and request.path == "/in"
        assert request.headers["idempotency-key"] == test_id
        assert json.loads(request.body)["reason"] == "test"

        page = (await client.get(location)).text
        outcome = page.split('data-testid="test-outcome"')[1].split("</section>")[0]
        assert "Test notification to hooks" in outcome and "Sent" in outcome and test_id in outcome
        assert "hx-get" not in outcome  # settled: no more polling
        assert figure(row_of(page, "hooks"), "sent") == "1"

        fragment = await client.get(f"/ui/channels/tests/{test_id}")
        assert fragment.status_code == 200 and 'data-status="sent"' in fragment.text
        assert "<html" not in fragment.text


async def test_a_failing_channel_shows_its_error(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer(500, body=b"receiver is down")
    channels = {"hooks": {"type": "webhook", "url": http_receiver.url}}
    async with service_factory(channels=channels) as svc:
        client = svc.client
        csrf = await csrf_of(client)
        location = (await client.post("/ui/channels/hooks/test", data={"csrf": csrf})).headers["location"]

        async def tried() -> bool:
            page = (await client.get(location)).text
            return 'data-testid="test-error"' in page

        await wait_for(tried)
        page = (await client.get(location)).text
        outcome = page.split('data-testid="test-outcome"')[1].split("</section>")[0]
        assert "500" in outcome and "Not delivered yet" in outcome
        assert "hx-get" in outcome  # still waiting for its retry: the page asks again
        assert "500" in figure(row_of(page, "hooks"), "last_error")


async def test_csrf_scope_and_unknown_channel(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(api_keys=KEYS) as svc:
        client = svc.client
        login_csrf = await csrf_of(client, "/ui/login")
        answer = await client.post("/ui/login", data={"csrf": login_csrf, "key": READER_KEY})
        assert answer.status_code == 303
        page = await client.get("/ui/channels")
        assert page.status_code == 200 and 'data-testid="signed-in">reader' in page.text
        assert 'data-testid="send-test"' not in page.text and 'data-testid="read-only"' in page.text
        assert 'data-channel="console"' in page.text
        found = _CSRF.search(page.text)
        assert found
        answer = await client.post("/ui/channels/console/test", data={"csrf": found.group(1)})
        assert answer.status_code == 403 and "alerts:manage" in answer.text

        login_csrf = await csrf_of(client, "/ui/login")
        answer = await client.post("/ui/login", data={"csrf": login_csrf, "key": MANAGER_KEY})
        csrf = await csrf_of(client)
        assert (await client.post("/ui/channels/console/test", data={})).status_code == 403
        answer = await client.post("/ui/channels/nowhere/test", data={"csrf": csrf})
        assert answer.status_code == 404 and "not configured" in answer.text
        answer = await client.get("/ui/channels?test=not-an-id")
        assert answer.status_code == 422 and "test" in answer.text
        answer = await client.post("/ui/channels/console/test", data={"csrf": csrf})
        assert answer.status_code == 303


async def test_the_page_shows_a_slack_channels_mode_and_no_secret(service_factory) -> None:  # type: ignore[no-untyped-def]
    channels = {
        "chat-app": {"type": "slack", "bot_token": "xoxb-1-2-PageSecret", "channel": "#alerts"},
        "chat-hook": {"type": "slack", "url": "https://hooks.slack.com/services/T/B/HookSecret"},
    }
    async with service_factory(channels=channels) as svc:
        page = (await svc.client.get("/ui/channels")).text
    assert "slack (app)" in row_of(page, "chat-app")
    assert "slack (webhook)" in row_of(page, "chat-hook")
    assert "PageSecret" not in page and "HookSecret" not in page
