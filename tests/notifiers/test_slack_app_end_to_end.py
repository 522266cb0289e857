"""A Slack app channel through the whole service, on both databases: one
message per alert, posted when the alert opens and updated as it is
acknowledged and resolved; a message deleted in Slack is posted anew."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.conftest import Service
from tests.helpers import create_alert, wait_for
from tests.slack_api import CHANNEL_ID, CHANNEL_NAME, TOKEN, SlackApi

SIGNING_SECRET = "e2e-signing-secret-0123456789"


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    api = SlackApi()
    yield api
    api.close()


def app_channel(api: SlackApi, **overrides: Any) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "slack",
        "bot_token": TOKEN,
        "channel": CHANNEL_NAME,
        "api_url": api.url,
        "signing_secret": SIGNING_SECRET,
    }
    return channel | overrides


@asynccontextmanager
async def slack_service(service_factory: Any, api: SlackApi, **overrides: Any) -> AsyncIterator[Service]:
    async with service_factory(
        channels={"chat": app_channel(api)}, default_channels=["chat"], **overrides
    ) as svc:
        yield svc


async def delivered(svc: Service, alert_id: str, count: int) -> bool:
    detail = (await svc.client.get(f"/alerts/{alert_id}")).json()
    rows = detail["notifications"]
    return len(rows) == count and all(row["status"] == "sent" for row in rows)


async def test_one_message_follows_the_alert(service_factory: Any, slack_api: SlackApi) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        alert = await create_alert(svc.client, severity="critical")
        await wait_for(lambda: delivered(svc, alert["id"], 1))
        message = slack_api.only_message()
        assert message.channel == CHANNEL_ID
        assert message.facts()["Status"] == "open"
        assert message.buttons() == {"alert_acknowledge": alert["id"], "alert_resolve": alert["id"]}

        acked = await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "bob"})
        assert acked.status_code == 200
        await wait_for(lambda: delivered(svc, alert["id"], 2))
        assert slack_api.calls == ["chat.postMessage", "chat.update"]
        assert message is slack_api.only_message()  # the same message, updated
        assert (message.facts()["Status"], message.facts()["Acknowledged by"]) == ("acknowledged", "bob")
        assert message.buttons() == {"alert_resolve": alert["id"]}

        resolved = await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "carol"})
        assert resolved.status_code == 200
        await wait_for(lambda: delivered(svc, alert["id"], 3))
        assert slack_api.calls == ["chat.postMessage", "chat.update", "chat.update"]
        assert message.header().startswith("[RESOLVED]")
        assert (message.facts()["Status"], message.facts()["Resolved by"]) == ("resolved", "carol")
        assert message.buttons() == {}
        reasons = [
            n["reason"] for n in (await svc.client.get(f"/alerts/{alert['id']}")).json()["notifications"]
        ]
        assert sorted(reasons) == ["acknowledged", "new", "resolved"]

        channels = (await svc.client.get("/channels")).json()
        [chat] = [c for c in channels if c["name"] == "chat"]
        assert (chat["type"], chat["mode"], chat["sent"], chat["failed"]) == ("slack", "app", 3, 0)
        assert TOKEN not in str(channels) and SIGNING_SECRET not in str(channels)
    assert slack_api.problems == []


async def test_a_message_deleted_in_slack_is_posted_anew(service_factory: Any, slack_api: SlackApi) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        alert = await create_alert(svc.client, severity="high")
        await wait_for(lambda: delivered(svc, alert["id"], 1))
        slack_api.delete(slack_api.only_message().ts)

        await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "bob"})
        await wait_for(lambda: delivered(svc, alert["id"], 2))
        assert slack_api.calls == ["chat.postMessage", "chat.update", "chat.postMessage"]
        fresh = slack_api.only_message()
        assert fresh.facts()["Acknowledged by"] == "bob"

        # The new message is the one kept: the resolution updates it.
        await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "carol"})
        await wait_for(lambda: delivered(svc, alert["id"], 3))
        assert slack_api.calls[-1] == "chat.update"
        assert slack_api.only_message() is fresh
        assert fresh.facts()["Status"] == "resolved"
    assert slack_api.problems == []


async def test_a_rate_limited_post_is_retried_and_kept_once(
    service_factory: Any, slack_api: SlackApi
) -> None:
    slack_api.fail_next("ratelimited", status=429, retry_after="0")
    async with slack_service(service_factory, slack_api, retry_base_seconds=0.01) as svc:
        alert = await create_alert(svc.client)

        async def waiting_to_retry() -> bool:
            rows = (await svc.client.get(f"/alerts/{alert['id']}")).json()["notifications"]
            return [(r["status"], r["attempts"]) for r in rows] == [("pending", 1)]

        await wait_for(waiting_to_retry)
        [row] = (await svc.client.get(f"/alerts/{alert['id']}")).json()["notifications"]
        assert "ratelimited" in row["last_error"]
        svc.clock.advance(seconds=1)
        svc.app.state.wake_delivery()
        await wait_for(lambda: delivered(svc, alert["id"], 1))
        [row] = (await svc.client.get(f"/alerts/{alert['id']}")).json()["notifications"]
        assert row["attempts"] == 2
        assert len(slack_api.messages) == 1


async def test_a_webhook_mode_channel_shows_its_mode(service_factory: Any) -> None:
    hook = {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/SECRETPART"}
    async with service_factory(channels={"hook": hook}) as svc:
        channels = (await svc.client.get("/channels")).json()
    [shown] = [c for c in channels if c["name"] == "hook"]
    assert shown["mode"] == "webhook"
    assert [c["mode"] for c in channels if c["name"] == "console"] == [None]
    assert "SECRETPART" not in str(channels)


async def test_an_acknowledgement_right_after_the_alert_waits_for_its_message(
    service_factory: Any, slack_api: SlackApi
) -> None:
    async with slack_service(service_factory, slack_api) as svc:
        # Acknowledged before the first message is even posted: the
        # acknowledgement is claimed only once that message is, and updates it.
        alert = await create_alert(svc.client)
        # A real clock has moved on by then; the test's stands still, and rows
        # queued at one instant are ordered by their random ids.
        svc.clock.advance(milliseconds=1)
        acked = await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "bob"})
        assert acked.status_code == 200
        await wait_for(lambda: delivered(svc, alert["id"], 2))
        assert slack_api.calls == ["chat.postMessage", "chat.update"]
        assert slack_api.only_message().facts()["Acknowledged by"] == "bob"
    assert slack_api.problems == []


async def statuses_are(svc: Service, alert_id: str, expected: list[tuple[str, str]]) -> bool:
    rows = (await svc.client.get(f"/alerts/{alert_id}")).json()["notifications"]
    return sorted((row["reason"], row["status"]) for row in rows) == expected


async def test_a_digest_is_a_message_of_its_own_and_keeps_nothing(
    service_factory: Any, slack_api: SlackApi
) -> None:
    # Flood control on an app channel: past the share, alerts are folded into
    # a digest, posted as a plain message; the folded alerts' own messages
    # come with their next notification, and the first alert's stays its own.
    channels = {"chat": app_channel(slack_api, max_per_minute=1)}
    async with service_factory(channels=channels, default_channels=["chat"]) as svc:
        svc.clock.advance(seconds=20)  # 09:00:20
        first = await create_alert(svc.client, source="db-1", severity="high")
        await wait_for(lambda: delivered(svc, first["id"], 1))
        later = [await create_alert(svc.client, source=f"db-{i}", severity="critical") for i in (2, 3)]
        for alert in later:
            await wait_for(lambda alert=alert: statuses_are(svc, alert["id"], [("new", "folded")]))

        svc.clock.advance(seconds=40)  # 09:01:00: the digest is due
        svc.app.state.wake_delivery()

        async def posted(count: int) -> bool:
            return len(slack_api.messages) == count

        await wait_for(lambda: posted(2))
        own, digest = slack_api.messages.values()
        assert digest.header() == "[CRITICAL] and 2 more: digest of channel chat"
        assert digest.buttons() == {}
        assert "db-2" in str(digest.attachments) and "db-3" in str(digest.attachments)
        assert own.facts()["Source"] == "db-1"

        # The first alert's message is still the one its notifications update.
        await svc.client.patch(f"/alerts/{first['id']}/acknowledge", json={"by": "bob"})
        await wait_for(lambda: delivered(svc, first["id"], 2))
        assert slack_api.calls == ["chat.postMessage", "chat.postMessage", "chat.update"]
        assert own.facts()["Acknowledged by"] == "bob"

        # A folded alert had no message: its next notification posts one.
        svc.clock.advance(minutes=1)  # a fresh share
        await svc.client.patch(f"/alerts/{later[0]['id']}/acknowledge", json={"by": "carol"})
        await wait_for(
            lambda: statuses_are(svc, later[0]["id"], [("acknowledged", "sent"), ("new", "folded")])
        )
        assert slack_api.calls[-1] == "chat.postMessage"
        assert len(slack_api.messages) == 3
        assert list(slack_api.messages.values())[-1].facts()["Acknowledged by"] == "carol"
    assert slack_api.problems == []
