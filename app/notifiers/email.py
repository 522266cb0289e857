"""Email channel: one multipart/alternative message (plain text + HTML) over SMTP.

Encryption is decided by the settings (EmailChannel): by port unless set,
587 upgrades with STARTTLS, 465 speaks TLS from the first byte, other ports
send in clear. It is never guessed at send time: without `starttls` no
upgrade is attempted (aiosmtplib would otherwise upgrade opportunistically,
which turns a server's odd certificate into a surprise delivery failure), and
with it a server that does not offer STARTTLS fails the delivery before
anything else is said; nothing is downgraded to plaintext. Certificates are
always verified, against the system CAs plus `tls_ca_file` when set.
Credentials go only over an encrypted connection unless the channel sets
`allow_insecure_auth` (the settings refuse the rest at start-up; the check is
repeated here before AUTH).

Error mapping (the outbox retries anything not permanent):
- a 5xx reply to the sender, the recipients or the data: permanent, the server
  has said no and will say it again;
- an authentication failure, even 535: transient, because providers answer
  throttling and backend outages that way too, and max_attempts bounds it;
- 4xx replies, disconnects, timeouts, refused connections, TLS errors, and a
  server that does not offer the STARTTLS the channel requires: transient.
Some recipients refused but at least one accepted: the mail went out, so this
is a success (retrying would mail the others twice); the refusals are in
`extra["refused"]`. The password is passed to aiosmtplib only; messages quote
the server's reply, which never echoes it.

Acknowledge and resolve links: given an `ActionLinker` (the service's
services/action_links.py, handed in by the registry so that this adapter
imports no rule), each message about an active alert carries a signed link
per move the alert allows, in both parts. Making them may read the signing
key from the database once; a failure there is a transient delivery error.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import aiosmtplib
from sqlalchemy.exc import SQLAlchemyError

from app.notifiers import render
from app.notifiers.base import DeliveryError, DeliveryResult, Notification, recipients
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import EmailChannel

_DEFAULT_TIMEOUT = 30.0


class ActionLinker(Protocol):
    async def links(self, notification: Notification) -> list[tuple[str, str]]:
        """(label, url) of the links that act on the notification's alert."""
        ...


def build_message(
    notification: Notification,
    config: EmailChannel,
    templates: ChannelTemplates = DEFAULTS,
    actions: Sequence[tuple[str, str]] = (),
) -> EmailMessage:
    words = render.Wording(notification, templates)
    msg = EmailMessage()
    msg["Subject"] = words.title
    msg["From"] = config.from_address
    msg["To"] = ", ".join(recipients(notification, config.to))
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    # Stable across retries, so a mail client can fold a duplicate delivery.
    domain = config.from_address.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<{notification.id}@{domain}>"
    msg.set_content(render.text_body(notification, words, actions))
    msg.add_alternative(render.html_body(notification, words, actions), subtype="html")
    return msg


def _error(exc: Exception) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        replies = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(
            f"all recipients refused: {replies}",
            permanent=bool(codes) and all(code >= 500 for code in codes),
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP authentication failed: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(
            f"SMTP {type(exc).__name__}: {exc.code} {exc.message}",
            permanent=exc.code >= 500,
        )
    return DeliveryError(f"SMTP {type(exc).__name__}: {exc}")


class EmailNotifier:
    def __init__(
        self,
        name: str,
        config: EmailChannel,
        *,
        timeout: float | None = None,
        tls_context: ssl.SSLContext | None = None,
        actions: ActionLinker | None = None,
    ) -> None:
        """`tls_context` replaces the default (system CAs plus `tls_ca_file`,
        hostname check); without `actions` messages carry no action links."""
        self.name = name
        self._config = config
        self._timeout = timeout or config.timeout_seconds or _DEFAULT_TIMEOUT
        self._tls_context = tls_context
        self._templates = ChannelTemplates.of(name, config, html_part=True)
        self._actions = actions

    def __repr__(self) -> str:
        return f"EmailNotifier(name={self.name!r}, host={self._config.host!r})"

    async def send(self, notification: Notification) -> DeliveryResult:
        config = self._config
        message = build_message(notification, config, self._templates, await self._links(notification))
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=bool(config.use_tls),
            start_tls=False,  # never opportunistic: done below when required
            validate_certs=True,
            cert_bundle=str(config.tls_ca_file) if config.tls_ca_file else None,
            tls_context=self._tls_context,
            timeout=self._timeout,
        )
        # Not `async with client`: its exit awaits QUIT even when the caller's
        # asyncio.timeout has cancelled us, so a hung server would hold the
        # attempt for a whole SMTP timeout. close() drops the socket at once.
        try:
            await client.connect()
            if config.starttls:
                await self._starttls(client)
            if config.username:
                await self._login(client)
            refused, reply = await client.send_message(
                message,
                sender=config.from_address,
                recipients=recipients(notification, config.to),
            )
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()  # the mail is accepted; QUIT is courtesy
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _error(exc) from exc
        finally:
            client.close()
        refusals = {rcpt: f"{r.code} {r.message}" for rcpt, r in refused.items()}
        return DeliveryResult(detail=reply, extra={"refused": refusals} if refusals else {})

    async def _links(self, notification: Notification) -> list[tuple[str, str]]:
        if self._actions is None:
            return []
        try:
            return await self._actions.links(notification)
        except (SQLAlchemyError, OSError) as exc:  # the signing key could not be read
            raise DeliveryError(f"action links not made: {type(exc).__name__}") from exc

    async def _starttls(self, client: aiosmtplib.SMTP) -> None:
        """Upgrade the connection, or fail: a server that does not offer
        STARTTLS (or a man in the middle that strips it) gets nothing more."""
        await client.ehlo()
        if not client.supports_extension("starttls"):
            raise DeliveryError(
                f"{self._config.host}:{self._config.port} does not offer STARTTLS, which this "
                "channel requires; nothing was sent (set starttls = false only for a trusted relay)"
            )
        await client.starttls()

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        config = self._config
        encrypted = client.get_transport_info("sslcontext") is not None
        if not encrypted and not config.allow_insecure_auth:
            raise DeliveryError("credentials over plaintext refused: the connection is not encrypted")
        password = config.password.get_secret_value() if config.password else ""
        await client.login(config.username or "", password)
