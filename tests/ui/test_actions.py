"""Acknowledge and resolve from the email, in process (app/ui/actions.py):
the mail arrives at a real SMTP server, the test takes the links out of its
text and HTML parts and follows them, on both databases."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from itsdangerous import URLSafeSerializer

from app.services.action_links import SALT, ActionLinks
from app.ui.session import COOKIE
from tests.conftest import Service, StartSmtp
from tests.helpers import create_alert, wait_for
from tests.peers import Delivered, SmtpServer

TO = ["oncall@example.com", "lead@example.com"]
BY = "email:oncall@example.com,lead@example.com"
_TEXT_LINK = re.compile(r"^(Acknowledge|Resolve): (\S+)", re.M)  # lines end in CRLF on the wire
_HTML_LINK = re.compile(r'<a href="([^"]+)">(Acknowledge|Resolve)</a>')


def email_channel(smtp: SmtpServer, **extra: Any) -> dict[str, Any]:
    return {"type": "email", "host": "127.0.0.1", "port": smtp.port, "to": TO, **extra}


def links_of(mail: Delivered) -> dict[str, str]:
    """The action links of a mail, by label; the text and HTML parts must agree."""
    text = mail.message.get_body(("plain",))
    html = mail.message.get_body(("html",))
    assert text is not None and html is not None
    in_text = {label: url for label, url in _TEXT_LINK.findall(text.get_content())}
    in_html = {label: url for url, label in _HTML_LINK.findall(html.get_content())}
    assert in_text == in_html
    return in_text


def path_of(url: str) -> str:
    """The link's path: the test's client reaches the app under another host name."""
    assert url.startswith("http://127.0.0.1:8000/actions/")  # public_url, as configured
    return urlsplit(url).path


async def mails(smtp: SmtpServer, n: int) -> list[Delivered]:
    async def arrived() -> bool:
        return len(smtp.recorder.delivered) >= n

    await wait_for(arrived)
    return smtp.recorder.delivered


async def alert_of(svc: Service, alert_id: str) -> dict[str, Any]:
    answer = await svc.client.get(f"/alerts/{alert_id}")
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    return data


async def test_the_links_acknowledge_then_resolve(service_factory, smtp_server: StartSmtp) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}) as svc:
        alert = await create_alert(svc.client, channels=["ops-email"], severity="critical")
        [mail] = await mails(smtp, 1)
        links = links_of(mail)
        assert set(links) == {"Acknowledge", "Resolve"}
        acknowledge, resolve = path_of(links["Acknowledge"]), path_of(links["Resolve"])

        # Opening the link shows the alert and a form, and changes nothing (twice over).
        for _ in range(2):
            page = await svc.client.get(acknowledge)
            assert page.status_code == 200, page.text
            assert "Acknowledge this alert?" in page.text and 'data-testid="action-form"' in page.text
            assert "disk_full" in page.text and "critical" in page.text and "default" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text  # scripts only from /ui/static, never inline
        assert (await alert_of(svc, alert["id"]))["status"] == "open"

        done = await svc.client.post(acknowledge, data={"note": "on it, from my phone"})
        assert done.status_code == 200, done.text
        assert "Acknowledged by " + BY in done.text
        moved = await alert_of(svc, alert["id"])
        assert moved["status"] == "acknowledged" and moved["acknowledged_by"] == BY
        event = moved["history"][-1]
        assert (event["from_status"], event["to_status"], event["actor"]) == ("open", "acknowledged", BY)
        assert event["note"] == "on it, from my phone"
        assert event["data"] == {"via": "email_link", "channel": "ops-email"}
        console = await svc.client.get(f"/ui/alerts/{alert['id']}")
        assert "(via email link)" in console.text

        # Once moved, the link says so and changes nothing, whether opened or posted.
        for again in (svc.client.get(acknowledge), svc.client.post(acknowledge, data={"note": "me too"})):
            answer = await again
            assert answer.status_code == 409
            assert f"already acknowledged (by {BY})" in answer.text
            assert 'data-testid="action-form"' not in answer.text
        assert (await alert_of(svc, alert["id"]))["history"][-1] == event

        # The mail's other link still resolves the acknowledged alert.
        assert (await svc.client.get(resolve)).status_code == 200
        resolved = await svc.client.post(resolve, data={"note": "freed 40 GB"})
        assert resolved.status_code == 200 and "Resolved by " + BY in resolved.text
        final = await alert_of(svc, alert["id"])
        assert final["status"] == "resolved" and final["resolved_by"] == BY
        assert final["resolution_notes"] == "freed 40 GB"
        assert final["history"][-1]["data"]["via"] == "email_link"
        assert (await svc.client.post(resolve)).status_code == 409


async def test_an_expired_link_changes_nothing(service_factory, smtp_server: StartSmtp) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}, action_link_ttl_hours=2) as svc:
        alert = await create_alert(svc.client, channels=["ops-email"])
        [mail] = await mails(smtp, 1)
        acknowledge = path_of(links_of(mail)["Acknowledge"])
        svc.clock.advance(hours=1, minutes=59)
        assert (await svc.client.get(acknowledge)).status_code == 200
        svc.clock.advance(minutes=1)
        for answer in (await svc.client.get(acknowledge), await svc.client.post(acknowledge)):
            assert answer.status_code == 410
            assert "this link expired" in answer.text and "2 hours" in answer.text
        assert (await alert_of(svc, alert["id"]))["status"] == "open"


def _payload(token: str) -> Any:
    encoded = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def _encode(payload: Any) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_altered_swapped_and_foreign_links_are_refused(service_factory, smtp_server: StartSmtp) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}) as svc:
        alert = await create_alert(svc.client, channels=["ops-email"])
        [mail] = await mails(smtp, 1)
        links = links_of(mail)
        acknowledge = path_of(links["Acknowledge"]).removeprefix("/actions/")
        resolve = path_of(links["Resolve"]).removeprefix("/actions/")
        payload, signature = _payload(acknowledge), acknowledge.split(".")[1]
        assert payload[:3] == [alert["id"], "acknowledge", "ops-email"]

        # The acknowledge link's signature on the resolve payload, and the reverse.
        swapped = [
            _encode([*payload[:1], "resolve", *payload[2:]]) + "." + signature,
            resolve.split(".")[0] + "." + signature,
        ]
        altered = acknowledge[:-3] + ("aaa" if not acknowledge.endswith("aaa") else "bbb")
        other_key = URLSafeSerializer("another-secret-0123456789abcdef0123", salt=SALT).dumps(payload)
        # The console's own cookie, signed with the same database key under its own salt.
        cookie = (await svc.client.get("/ui/")).cookies[COOKIE]
        for token in [*swapped, altered, other_key, cookie, "x" * 600, "not-a-token"]:
            for answer in (
                await svc.client.get(f"/actions/{token}"),
                await svc.client.post(f"/actions/{token}"),
            ):
                assert answer.status_code == 403, (token, answer.text)
                assert 'data-testid="error"' in answer.text
        assert (await alert_of(svc, alert["id"]))["status"] == "open"


async def test_a_link_never_becomes_a_console_session(service: Service) -> None:
    links: ActionLinks = service.app.state.action_links
    token = await links.issue(
        alert_id=uuid.uuid4(), action="acknowledge", channel="console", now=service.clock()
    )
    client: httpx.AsyncClient = service.client
    client.cookies.set(COOKIE, token)
    page = await client.get("/ui/")
    assert page.cookies.get(COOKIE) not in (None, token)  # refused: a new session was issued


async def test_unknown_alert_gone_channel_and_reopened_alert(service_factory, smtp_server: StartSmtp) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}) as svc:
        links: ActionLinks = svc.app.state.action_links
        now = svc.clock()
        missing = await links.issue(alert_id=uuid.uuid4(), action="acknowledge", channel="ops-email", now=now)
        assert (await svc.client.get(f"/actions/{missing}")).status_code == 404
        assert (await svc.client.post(f"/actions/{missing}")).status_code == 404

        alert = await create_alert(svc.client, channels=["ops-email"])
        gone = await links.issue(alert_id=alert["id"], action="acknowledge", channel="old-email", now=now)
        answer = await svc.client.post(f"/actions/{gone}")
        assert answer.status_code == 403 and "old-email" in answer.text

        [mail] = await mails(smtp, 1)
        resolve = path_of(links_of(mail)["Resolve"])
        assert (
            await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "bob"})
        ).is_success
        svc.clock.advance(minutes=5)
        reopened = await svc.client.patch(
            f"/alerts/{alert['id']}/status", json={"status": "reopened", "by": "bob"}
        )
        assert reopened.json()["status"] == "reopened"
        answer = await svc.client.post(resolve)
        assert answer.status_code == 409 and "before the alert was reopened" in answer.text
        assert (await alert_of(svc, alert["id"]))["status"] == "reopened"


async def test_resolved_notices_and_channel_tests_carry_no_links(
    service_factory, smtp_server: StartSmtp
) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    channels = {"ops-email": email_channel(smtp, send_resolved=True)}
    async with service_factory(channels=channels) as svc:
        alert = await create_alert(svc.client, channels=["ops-email"])
        await mails(smtp, 1)
        ack = await svc.client.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "alice"})
        assert ack.status_code == 200
        assert (
            await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "alice"})
        ).is_success
        assert (await svc.client.post("/channels/ops-email/test")).status_code == 202
        first, *others = await mails(smtp, 3)
        assert set(links_of(first)) == {"Acknowledge", "Resolve"}
        subjects = {mail.message["Subject"].split(" ")[0] for mail in others}
        assert subjects == {"[RESOLVED]", "Test"}
        for mail in others:
            assert links_of(mail) == {}
            assert "/actions/" not in mail.message.as_string()


@pytest.mark.parametrize("status, offered", [("acknowledged", {"Resolve"}), ("in_progress", {"Resolve"})])
async def test_a_moved_alert_is_mailed_only_the_moves_left(
    service_factory, smtp_server: StartSmtp, status: str, offered: set[str]
) -> None:  # type: ignore[no-untyped-def]
    """A duplicate of higher severity notifies an acknowledged alert again: no acknowledge link then."""
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}) as svc:
        alert = await create_alert(svc.client, channels=["ops-email"], severity="medium")
        await mails(smtp, 1)
        moved = await svc.client.patch(
            f"/alerts/{alert['id']}/status", json={"status": status, "by": "alice"}
        )
        assert moved.status_code == 200
        again = await svc.client.post(
            "/alerts", json={**{k: alert[k] for k in ("alert_type", "source", "labels")}, "severity": "high",
                             "message": "worse", "channels": ["ops-email"]}
        )  # fmt: skip
        assert again.json()["notified"] is True
        _, second = await mails(smtp, 2)
        assert set(links_of(second)) == offered


async def test_a_bad_note_is_refused_naming_it_and_changes_nothing(
    service_factory, smtp_server: StartSmtp
) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}) as svc:
        alert = await create_alert(svc.client, channels=["ops-email"])
        [mail] = await mails(smtp, 1)
        acknowledge = path_of(links_of(mail)["Acknowledge"])
        for form in ({"note": "a\x00b"}, {"note": "x" * 8_001}, {f"f{i}": "1" for i in range(30)}):
            answer = await svc.client.post(acknowledge, data=form)
            assert answer.status_code == 422, answer.text
            assert "(field: note)" in answer.text
        assert (await alert_of(svc, alert["id"]))["status"] == "open"
        # A browser's line breaks are CRLF: kept as plain newlines.
        done = await svc.client.post(acknowledge, data={"note": "first line\r\nsecond line"})
        assert done.status_code == 200
        assert (await alert_of(svc, alert["id"]))["history"][-1]["note"] == "first line\nsecond line"


async def test_no_log_line_holds_the_token(
    service_factory, smtp_server: StartSmtp, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}) as svc:
        await create_alert(svc.client, channels=["ops-email"])
        [mail] = await mails(smtp, 1)
        acknowledge = path_of(links_of(mail)["Acknowledge"])
        caplog.set_level(logging.INFO)
        assert (await svc.client.get(acknowledge)).status_code == 200
        assert (await svc.client.post(acknowledge)).status_code == 200
        access = [r for r in caplog.records if r.name == "app.access" and r.__dict__["path"] != "/alerts"]
        assert [(r.__dict__["method"], r.__dict__["path"]) for r in access] == [
            ("GET", "/actions/{token}"),
            ("POST", "/actions/{token}"),
        ]
        assert access[0].__dict__["key_name"] == "email link:ops-email"
        token = acknowledge.removeprefix("/actions/")
        moved = [r for r in caplog.records if r.getMessage() == "alert acknowledged"]
        assert moved and moved[0].__dict__["via"] == "email_link"
        for record in caplog.records:
            assert token not in record.getMessage() and token not in str(record.__dict__)


async def test_two_clicks_at_once_move_the_alert_once(service_factory, smtp_server: StartSmtp) -> None:  # type: ignore[no-untyped-def]
    smtp = smtp_server()
    async with service_factory(channels={"ops-email": email_channel(smtp)}) as svc:
        alert = await create_alert(svc.client, channels=["ops-email"])
        [mail] = await mails(smtp, 1)
        acknowledge = path_of(links_of(mail)["Acknowledge"])
        answers = await asyncio.gather(*(svc.client.post(acknowledge) for _ in range(4)))
        assert sorted(answer.status_code for answer in answers) == [200, 409, 409, 409]
        for answer in answers:
            if answer.status_code == 409:
                assert f"already acknowledged (by {BY})" in answer.text
        history = (await alert_of(svc, alert["id"]))["history"]
        assert [e["to_status"] for e in history if e["kind"] == "status"] == ["acknowledged"]
