"""Discord: one embed coloured by severity, cut to Discord's limits, to a real HTTP receiver."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from app.notifiers import discord, render
from app.notifiers.base import DeliveryError
from app.notifiers.discord import DiscordNotifier
from app.settings import DiscordChannel
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    import httpx

    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

pytestmark = pytest.mark.asyncio

TOKEN = "XXXXwebhooktokenXXXX"


def discord_notifier(receiver: HttpReceiver, client: httpx.AsyncClient) -> DiscordNotifier:
    config = DiscordChannel(type="discord", url=f"{receiver.url}/api/webhooks/123/{TOKEN}")
    return DiscordNotifier("chat", config, client)


def embed(receiver: HttpReceiver, index: int = 0) -> dict[str, Any]:
    payload = json.loads(receiver.requests[index].body)
    assert payload["allowed_mentions"] == {"parse": []}  # nobody is pinged by an alert's text
    [only] = payload["embeds"]
    result: dict[str, Any] = only
    return result


async def test_one_embed_coloured_by_severity(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    http_receiver.answer(204, body=b"")
    result = await discord_notifier(http_receiver, http_client).send(make_notification())

    assert result.detail == "HTTP 204"
    [req] = http_receiver.requests
    assert (req.method, req.path) == ("POST", f"/api/webhooks/123/{TOKEN}")
    assert req.headers["content-type"] == "application/json"
    shown = embed(http_receiver)
    fields = shown.pop("fields")
    assert shown == {
        "title": "[CRITICAL] disk_full on db-1 (level 3, escalation)",
        "description": "Disk <b>97%</b> full & rising\nsecond line",
        "color": 0xD00000,
        "url": f"http://alerts.example/ui/alerts/{ALERT_ID}",
        "timestamp": "2024-05-01T11:00:00+00:00",
    }
    assert {"name": "Severity", "value": "critical", "inline": True} in fields
    assert {"name": "Labels", "value": "env=prod, mount=/var", "inline": True} in fields


async def test_colours_are_integers_by_severity_and_resolved(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    notifier = discord_notifier(http_receiver, http_client)
    await notifier.send(make_notification(severity="medium", reason="new"))
    await notifier.send(make_notification(reason="resolved"))
    assert embed(http_receiver, 0)["color"] == int(render.SEVERITY_COLOURS["medium"][1:], 16)
    assert embed(http_receiver, 1)["color"] == int(render.RESOLVED_COLOUR[1:], 16)


async def test_discord_limits_are_respected(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await discord_notifier(http_receiver, http_client).send(
        make_notification(
            alert_type="t" * 400, message="m" * 10_000, details={"blob": "d" * 5000}, labels={"k": "v" * 3000}
        )
    )
    shown = embed(http_receiver)
    assert len(shown["title"]) <= discord.TITLE_MAX
    assert len(shown["description"]) <= discord.DESCRIPTION_MAX
    assert shown["description"].endswith("\u2026")
    assert all(len(f["value"]) <= discord.FIELD_VALUE_MAX for f in shown["fields"])
    assert len(shown["fields"]) <= discord.FIELDS_MAX
    total = len(shown["title"]) + len(shown["description"])
    total += sum(len(f["name"]) + len(f["value"]) for f in shown["fields"])
    assert total == discord.EMBED_MAX  # the description gave way to the fields
    assert len(shown["description"]) < discord.DESCRIPTION_MAX


async def test_markdown_cannot_forge_a_link(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, make_notification: MakeNotification
) -> None:
    await discord_notifier(http_receiver, http_client).send(
        make_notification(message="see [the runbook](http://evil.example) @everyone")
    )
    description = embed(http_receiver)["description"]
    assert "](" not in description
    assert description.replace("\u200b", "") == "see [the runbook](http://evil.example) @everyone"


@pytest.mark.parametrize(("status", "permanent"), [(429, False), (502, False), (400, True), (404, True)])
async def test_retryable_and_permanent_failures(
    status: int,
    permanent: bool,
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    make_notification: MakeNotification,
) -> None:
    http_receiver.answer(
        status, headers={"Retry-After": "2"}, body=b'{"message": "You are being rate limited."}'
    )
    with pytest.raises(DeliveryError) as caught:
        await discord_notifier(http_receiver, http_client).send(make_notification())
    assert caught.value.permanent is permanent
    assert TOKEN not in str(caught.value)
    if not permanent:
        assert caught.value.retry_after == 2


async def test_repr_hides_the_token(http_receiver: HttpReceiver, http_client: httpx.AsyncClient) -> None:
    assert TOKEN not in repr(discord_notifier(http_receiver, http_client))
