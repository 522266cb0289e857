"""The links' tokens (services/action_links.py): what they carry, when they
stop working, and which moves an email offers. With `action_secret` set the
database is never asked for a key: these run on an empty SQLite file whose
missing table would fail any attempt."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.engine import create_engine, create_sessionmaker
from app.notifiers.base import Notification
from app.services.action_links import SALT, ActionLinks, LinkExpired, LinkInvalid, offered
from app.settings import ConfigError, Settings, load_settings

SECRET = "links-secret-0123456789abcdef0123456789"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ALERT_ID = uuid.UUID("0b6f9c52-5d8e-4c51-9a3e-2a9d1f1c7e01")


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "action_secret": SECRET,
        "public_url": "https://alerts.example.com/",
        "channels": {"ops-email": {"type": "email", "host": "smtp.example.com", "to": ["a@example.com"]}},
    }
    return load_settings(**(values | overrides))


@pytest.fixture
async def no_database(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    yield create_sessionmaker(engine)
    await engine.dispose()


def links_for(sessionmaker: async_sessionmaker[AsyncSession], **overrides: Any) -> ActionLinks:
    return ActionLinks(settings(**overrides), sessionmaker, clock=lambda: NOW)


def notification(reason: str = "new", status: str | None = "open") -> Notification:
    alert = None if status is None else {"id": str(ALERT_ID), "status": status}
    return Notification(uuid.uuid4(), "ops-email", reason, 1, NOW, alert)


@pytest.mark.parametrize(
    "status, actions",
    [
        ("open", ["acknowledge", "resolve"]),
        ("reopened", ["acknowledge", "resolve"]),
        ("acknowledged", ["resolve"]),
        ("in_progress", ["resolve"]),
        ("resolved", []),
        ("closed", []),
        (None, []),
    ],
)
def test_an_email_offers_the_moves_the_alert_allows(status: str | None, actions: list[str]) -> None:
    assert offered(status) == actions


async def test_links_carry_their_claim_back(no_database: async_sessionmaker[AsyncSession]) -> None:
    links = links_for(no_database)
    made = await links.links(notification())
    assert [label for label, _ in made] == ["Acknowledge", "Resolve"]
    for (_, url), action in zip(made, ("acknowledge", "resolve"), strict=True):
        assert url.startswith("https://alerts.example.com/actions/")
        claim = await links.read(url.rsplit("/", 1)[1], now=NOW)
        assert (claim.alert_id, claim.action, claim.channel, claim.issued_at) == (
            ALERT_ID,
            action,
            "ops-email",
            NOW,
        )
        assert claim.by == "email:a@example.com"
        assert claim.origin == {"via": "email_link", "channel": "ops-email"}


async def test_no_links_for_a_notice_a_test_or_an_ended_alert(
    no_database: async_sessionmaker[AsyncSession],
) -> None:
    links = links_for(no_database)
    assert await links.links(notification(reason="resolved", status="resolved")) == []
    assert await links.links(notification(reason="resolved", status="open")) == []  # a notice never acts
    assert await links.links(notification(reason="test", status=None)) == []
    assert await links.links(notification(reason="escalation", status="closed")) == []


async def test_a_link_expires_after_its_ttl(no_database: async_sessionmaker[AsyncSession]) -> None:
    links = links_for(no_database, action_link_ttl_hours=0.5)
    token = await links.issue(alert_id=ALERT_ID, action="acknowledge", channel="ops-email", now=NOW)
    assert (await links.read(token, now=NOW + timedelta(minutes=29, seconds=59))).action == "acknowledge"
    with pytest.raises(LinkExpired) as expired:
        await links.read(token, now=NOW + timedelta(minutes=30))
    assert expired.value.status_code == 410 and "2026-01-05 09:30 UTC" in expired.value.message


async def test_only_the_same_key_reads_a_link(no_database: async_sessionmaker[AsyncSession]) -> None:
    token = await links_for(no_database).issue(
        alert_id=ALERT_ID, action="resolve", channel="ops-email", now=NOW
    )
    assert (await links_for(no_database).read(token, now=NOW)).action == "resolve"  # another replica
    other = links_for(no_database, action_secret="another-secret-0123456789abcdef0123")
    with pytest.raises(LinkInvalid):
        await other.read(token, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        {"a": str(ALERT_ID)},
        [str(ALERT_ID), "close", "ops-email", int(NOW.timestamp())],  # not an action a link makes
        [str(ALERT_ID), "acknowledge", "ops-email", "yesterday"],
        [str(ALERT_ID), "acknowledge", "ops-email", 10**20],
        ["not-a-uuid", "acknowledge", "ops-email", int(NOW.timestamp())],
        [str(ALERT_ID), "acknowledge", "ops-email"],
    ],
)
async def test_a_signed_payload_of_another_shape_is_refused(
    no_database: async_sessionmaker[AsyncSession], payload: Any
) -> None:
    token = URLSafeSerializer(SECRET, salt=SALT).dumps(payload)
    with pytest.raises(LinkInvalid) as refused:
        await links_for(no_database).read(token, now=NOW)
    assert refused.value.status_code == 403 and refused.value.field == "token"


async def test_a_link_of_a_channel_no_longer_configured_is_refused(
    no_database: async_sessionmaker[AsyncSession],
) -> None:
    token = await links_for(no_database).issue(
        alert_id=ALERT_ID, action="resolve", channel="ops-email", now=NOW
    )
    renamed = links_for(
        no_database,
        channels={"pager-mail": {"type": "email", "host": "smtp.example.com", "to": ["a@example.com"]}},
    )
    with pytest.raises(LinkInvalid, match="ops-email"):
        await renamed.read(token, now=NOW)
    as_webhook = links_for(
        no_database, channels={"ops-email": {"type": "webhook", "url": "https://example.com/"}}
    )
    with pytest.raises(LinkInvalid):
        await as_webhook.read(token, now=NOW)


def test_action_secret_is_at_least_32_characters() -> None:
    with pytest.raises(ConfigError, match="action_secret"):
        settings(action_secret="short")
    with pytest.raises(ConfigError, match="action_link_ttl_hours"):
        settings(action_link_ttl_hours=0)
