"""Email against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from app.db.engine import create_engine, create_sessionmaker
from app.notifiers import render
from app.notifiers.base import DeliveryError
from app.notifiers.email import EmailNotifier
from app.services.action_links import ActionLinks
from app.settings import EmailChannel, load_settings
from tests.peers import free_port

if TYPE_CHECKING:
    from tests.conftest import StartSmtp
    from tests.notifiers.conftest import MakeNotification, TlsFiles

pytestmark = pytest.mark.asyncio

USER, PASSWORD = "alerts", "hunter2-smtp"  # what the test server accepts
TO = ["oncall@example.com", "dba@example.com", "lead@example.org"]


def channel(port: int, **overrides: Any) -> EmailChannel:
    values: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from_address": "alerts@example.net",
        "to": TO,
    }
    return EmailChannel(**(values | overrides))


def pointed_at(config: EmailChannel, port: int) -> EmailChannel:
    """The channel as validated for its own port, connecting to `port` instead.

    Encryption is decided once, at validation, from the configured port; a
    channel configured for 587 or 465 keeps that decision here while its
    connection goes to the test server (no test may bind 587 or 465 itself).
    """
    return config.model_copy(update={"port": port})


async def test_multipart_message_reaches_every_recipient(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server()
    n = make_notification()

    result = await EmailNotifier("mail", channel(server.port)).send(n)

    assert "queued as 42" in result.detail
    [got] = server.recorder.delivered
    assert got.mail_from == "alerts@example.net"
    assert got.rcpt_tos == TO
    msg = got.message
    assert msg["Subject"] == "[CRITICAL] disk_full on db-1 (level 3, escalation)"
    assert msg["From"] == "alerts@example.net"
    assert [a.strip() for a in str(msg["To"]).split(",")] == TO
    assert msg["Message-ID"] == f"<{n.id}@example.net>"
    assert msg.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part for part in msg.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    plain = parts["text/plain"].get_content().replace("\r\n", "\n")
    assert plain == render.text_body(n)
    html = parts["text/html"].get_content()
    assert "Disk &lt;b&gt;97%&lt;/b&gt; full &amp; rising" in html
    assert f'<a href="{n.console_url}">Open the alert</a>' in html  # the console page
    assert not got.tls


async def test_starttls_and_auth_login(
    smtp_server: StartSmtp, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    server = smtp_server(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        authenticator=True,
        auth_require_tls=True,
        auth_exclude_mechanism=["PLAIN"],  # so the client must use AUTH LOGIN
    )
    config = channel(server.port, starttls=True, username=USER, password=PASSWORD)
    notifier = EmailNotifier("mail", config, tls_context=tls_files.client_context())

    await notifier.send(make_notification())

    assert server.recorder.logins == [("LOGIN", USER, True)]
    [got] = server.recorder.delivered
    assert got.tls
    assert got.rcpt_tos == TO


async def test_implicit_tls(
    smtp_server: StartSmtp, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    server = smtp_server(ssl_context=tls_files.server_context())
    config = channel(server.port, use_tls=True)
    notifier = EmailNotifier("mail", config, tls_context=tls_files.client_context())

    await notifier.send(make_notification())

    assert len(server.recorder.delivered) == 1


async def test_certificates_are_verified_by_default(
    smtp_server: StartSmtp, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    server = smtp_server(tls_context=tls_files.server_context(), require_starttls=True)
    notifier = EmailNotifier("mail", channel(server.port, starttls=True))

    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())

    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert not info.value.permanent
    assert server.recorder.delivered == []


async def test_wrong_password_is_an_error_without_the_password(
    smtp_server: StartSmtp, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    server = smtp_server(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        authenticator=True,
    )
    wrong = "not-the-password-xyz"
    config = channel(server.port, starttls=True, username=USER, password=wrong)
    notifier = EmailNotifier("mail", config, tls_context=tls_files.client_context())

    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())

    assert "authentication failed: 535" in str(info.value)
    assert not info.value.permanent  # auth failures may be throttling: retry
    assert wrong not in str(info.value)
    assert wrong not in repr(info.value)
    assert wrong not in repr(notifier)
    # aiosmtplib tries each offered mechanism once; none may get in.
    assert server.recorder.logins
    assert not any(ok for *_, ok in server.recorder.logins)
    assert server.recorder.delivered == []


async def test_all_recipients_refused_is_permanent(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server(refuse=set(TO))

    with pytest.raises(DeliveryError) as info:
        await EmailNotifier("mail", channel(server.port)).send(make_notification())

    assert info.value.permanent
    assert "550" in str(info.value)
    assert "dba@example.com" in str(info.value)
    assert server.recorder.delivered == []


async def test_some_recipients_refused_is_a_reported_success(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server(refuse={"dba@example.com"})

    result = await EmailNotifier("mail", channel(server.port)).send(make_notification())

    assert set(result.extra["refused"]) == {"dba@example.com"}
    assert result.extra["refused"]["dba@example.com"].startswith("550")
    [got] = server.recorder.delivered
    assert got.rcpt_tos == ["oncall@example.com", "lead@example.org"]


async def test_connection_refused_is_transient(make_notification: MakeNotification) -> None:
    notifier = EmailNotifier("mail", channel(free_port()))

    with pytest.raises(DeliveryError) as info:
        await notifier.send(make_notification())

    assert not info.value.permanent


async def test_a_hanging_server_is_cut_by_the_callers_timeout(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server(data_delay=5)
    notifier = EmailNotifier("mail", channel(server.port))

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await notifier.send(make_notification())

    assert time.monotonic() - started < 2


async def test_a_resolved_notice_says_who_resolved_how_and_the_details(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server()
    n = make_notification(
        reason="resolved",
        status="resolved",
        resolved_by="alice",
        resolution_notes="rotated the logs\nand added a cron job",
        resolution_minutes=42.5,
        details={"used_pct": 97, "runbook": "https://wiki.example/disk"},
    )
    await EmailNotifier("mail", channel(server.port)).send(n)
    [got] = server.recorder.delivered
    parts = {part.get_content_type(): part for part in got.message.iter_parts()}
    for body in (parts["text/plain"].get_content(), parts["text/html"].get_content()):
        assert "alice" in body
        assert "rotated the logs and added a cron job" in body
        assert "42.5 min" in body
        assert "used_pct" in body and "https://wiki.example/disk" in body


# --- encryption by default ---------------------------------------------------------


async def test_port_587_defaults_to_starttls_with_a_verified_certificate(
    smtp_server: StartSmtp, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    server = smtp_server(
        tls_context=tls_files.server_context(),
        require_starttls=True,
        authenticator=True,
        auth_require_tls=True,
    )
    # No starttls key; the private CA comes from the channel, not the test.
    config = channel(587, username=USER, password=PASSWORD, tls_ca_file=tls_files.cert)
    assert (config.starttls, config.use_tls) == (True, False)

    await EmailNotifier("mail", pointed_at(config, server.port)).send(make_notification())

    [(_, user, accepted)] = server.recorder.logins
    assert (user, accepted) == (USER, True)
    assert server.recorder.login_tls == [True]
    [got] = server.recorder.delivered
    assert got.tls and got.encrypted


async def test_port_465_defaults_to_implicit_tls(
    smtp_server: StartSmtp, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    server = smtp_server(ssl_context=tls_files.server_context())
    config = channel(465, tls_ca_file=tls_files.cert)
    assert (config.starttls, config.use_tls) == (False, True)

    await EmailNotifier("mail", pointed_at(config, server.port)).send(make_notification())

    [got] = server.recorder.delivered
    assert got.encrypted


async def test_required_starttls_not_offered_fails_and_nothing_goes_in_clear(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    # A server without TLS that would take AUTH and the mail in clear.
    server = smtp_server(authenticator=True, auth_require_tls=False)
    config = channel(587, username=USER, password=PASSWORD)  # STARTTLS by port

    with pytest.raises(DeliveryError) as info:
        await EmailNotifier("mail", pointed_at(config, server.port)).send(make_notification())

    assert "does not offer STARTTLS" in str(info.value)
    assert not info.value.permanent
    assert PASSWORD not in str(info.value)
    assert server.recorder.logins == []
    assert server.recorder.delivered == []


async def test_allow_insecure_auth_sends_credentials_in_clear(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server(authenticator=True, auth_require_tls=False)
    config = channel(server.port, username=USER, password=PASSWORD, allow_insecure_auth=True)
    assert (config.starttls, config.use_tls) == (False, False)

    await EmailNotifier("mail", config).send(make_notification())

    [(_, user, accepted)] = server.recorder.logins
    assert (user, accepted) == (USER, True)
    assert server.recorder.login_tls == [False]
    [got] = server.recorder.delivered
    assert not got.encrypted


async def test_explicit_starttls_false_on_587_sends_in_clear_without_credentials(
    smtp_server: StartSmtp, tls_files: TlsFiles, make_notification: MakeNotification
) -> None:
    # The server offers STARTTLS with a certificate the client does not
    # trust: any attempt to upgrade would fail the delivery.
    server = smtp_server(tls_context=tls_files.server_context())
    config = channel(587, starttls=False)  # an internal relay
    assert (config.starttls, config.use_tls) == (False, False)

    await EmailNotifier("mail", pointed_at(config, server.port)).send(make_notification())

    [got] = server.recorder.delivered
    assert not got.encrypted


async def test_the_notifier_itself_refuses_auth_in_clear(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    # Settings refuse this at start-up; a channel built around them is still
    # refused before AUTH.
    server = smtp_server(authenticator=True, auth_require_tls=False)
    config = channel(server.port).model_copy(update={"username": USER, "password": SecretStr(PASSWORD)})

    with pytest.raises(DeliveryError) as info:
        await EmailNotifier("mail", config).send(make_notification())

    assert "plaintext" in str(info.value)
    assert server.recorder.logins == []
    assert server.recorder.delivered == []


async def test_action_links_go_in_both_parts_of_an_active_alerts_mail(
    smtp_server: StartSmtp, make_notification: MakeNotification, tmp_path: Path
) -> None:
    server = smtp_server()
    settings = load_settings(
        action_secret="mail-actions-secret-0123456789abcdef",
        public_url="https://alerts.example.com",
        channels={"mail": channel(server.port).model_dump(mode="json", exclude_none=True)},
    )
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")  # action_secret: never read
    try:
        links = ActionLinks(settings, create_sessionmaker(engine), clock=lambda: datetime.now(UTC))
        notifier = EmailNotifier("mail", channel(server.port), actions=links)
        await notifier.send(make_notification(channel="mail", status="reopened"))
        await notifier.send(make_notification(channel="mail", reason="resolved", status="resolved"))
    finally:
        await engine.dispose()
    active, notice = server.recorder.delivered
    for part in ("plain", "html"):
        body = active.message.get_body((part,))
        assert body is not None
        content = body.get_content()
        assert content.count("https://alerts.example.com/actions/") == 2, part
        assert "Acknowledge" in content and "Resolve" in content
        quiet = notice.message.get_body((part,))
        assert quiet is not None and "/actions/" not in quiet.get_content()
