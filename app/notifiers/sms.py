"""SMS channel: one short text per number, through Twilio's Messages API.

Each number in `to` is one request (POST {api_url}/2010-04-01/Accounts/{sid}/
Messages.json, form-encoded To, From and Body, basic auth with the account
SID and auth token). The text is one SMS where it can be: 160 characters of
severity, type, source and message, then the link to the alert's page; it is
cut with "..." rather than "…", which would switch the whole text to UCS-2
and its 70-character segments.

One outbox row covers every number, and the outbox retries the row, not a
number. So the notifier remembers, per notification id, the numbers that got
the text and those Twilio refused for good, and a retry only goes to the
others: one number's failure does not text the rest twice. Once every
number got the text or was refused for good (a 4xx: an invalid or blocked
number), the attempt is settled: delivered when none was refused, else a
permanent failure that names the refused numbers and counts those that got
the text, so that a wrong number shows on the alert instead of vanishing
into a "sent".

That memory lives in this process: the simplest design that needs no new
column and no outbox row per number, and it is right whenever the retry runs
where the first attempt ran (always, with one replica). A retry claimed by
another replica, or after a restart, texts the remembered numbers again: a
repeated text, never a lost one, the at-least-once delivery of every
channel. A channel per number (one outbox row each) avoids even that.

The auth token is scrubbed from every error message; the SID is not a secret.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

from app.notifiers import render
from app.notifiers.base import DeliveryError, DeliveryResult, Notification, recipients
from app.notifiers.http import HttpNotifier, send
from app.notifiers.templates import DEFAULTS, ChannelTemplates
from app.settings import SmsChannel

SMS_MAX = 160
_MIN_TEXT = 40  # with a very long link, the text keeps this much and goes over one SMS
_REMEMBERED = 10_000  # notifications whose progress is kept, the oldest forgotten first


def build_text(notification: Notification, templates: ChannelTemplates = DEFAULTS) -> str:
    """The channel's own title, when it sets one, else a head shorter than the
    other channels' title; then the message."""
    alert = notification.alert or {}
    words = render.Wording(notification, templates)
    if templates.custom_title is not None:
        head = words.title
    elif render.is_test(notification):
        head = f"Test notification from channel {notification.channel}"
    elif render.is_digest(notification):
        head = render.title(notification)
    else:
        tag = "RESOLVED" if render.is_resolved(notification) else render.severity(notification).upper()
        head = f"{tag} {alert.get('alert_type') or 'alert'}"
        if alert.get("source"):
            head += f" on {alert['source']}"
    if not render.is_test(notification) and (message := " ".join(words.message.split())):
        head += f": {message}"
    link = render.link(notification)
    budget = SMS_MAX - (len(link) + 1 if link else 0)
    text = render.cut(" ".join(head.split()), max(budget, _MIN_TEXT), "...")
    return f"{text} {link}" if link else text


@dataclass
class Progress:
    sent: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)


class SmsNotifier(HttpNotifier[SmsChannel]):
    def __init__(
        self, name: str, config: SmsChannel, client: httpx.AsyncClient, *, timeout: float | None = None
    ) -> None:
        super().__init__(name, config, client, timeout=timeout)
        self._progress: OrderedDict[uuid.UUID, Progress] = OrderedDict()

    def __repr__(self) -> str:
        return f"SmsNotifier(name={self.name!r}, to={len(self._config.to)} numbers)"

    def _progress_of(self, notification_id: uuid.UUID) -> Progress:
        progress = self._progress.pop(notification_id, None) or Progress()
        self._progress[notification_id] = progress
        while len(self._progress) > _REMEMBERED:
            self._progress.popitem(last=False)
        return progress

    async def send(self, notification: Notification) -> DeliveryResult:
        progress = self._progress_of(notification.id)
        numbers = list(dict.fromkeys(recipients(notification, self._config.to)))
        pending = [n for n in numbers if n not in progress.sent and n not in progress.refused]
        text = build_text(notification, self._templates)
        # One number after the other, in the configured order: Twilio queues
        # each message anyway, and answers a burst on one account with 429.
        retry: dict[str, DeliveryError] = {}
        for number in pending:
            try:
                await self._send_one(number, text, progress)
            except DeliveryError as error:
                if not error.permanent:
                    retry[number] = error  # a permanent one is in progress.refused
        if retry:
            waits = [e.retry_after for e in retry.values() if e.retry_after is not None]
            raise DeliveryError(
                "; ".join(f"{number}: {error}" for number, error in retry.items())
                + f" (sent to {len(progress.sent)} of {len(numbers)}; a retry texts the rest)",
                retry_after=max(waits, default=None),
                rate_limited=any(e.rate_limited for e in retry.values()),  # Twilio's 20429
            )
        # Settled: every number sent or refused. Pop, not del: a row whose lease
        # ran out may be sent twice at once, and the other send may have settled it.
        self._progress.pop(notification.id, None)
        if progress.refused:
            refused = "; ".join(f"{number}: {error}" for number, error in progress.refused.items())
            raise DeliveryError(
                f"{refused} (sent to {len(progress.sent)} of {len(numbers)}; refused numbers are not retried)",
                permanent=True,
            )
        return DeliveryResult(
            detail=f"sent to {len(progress.sent)} of {len(numbers)}", extra={"sent": sorted(progress.sent)}
        )

    async def _send_one(self, number: str, text: str, progress: Progress) -> None:
        config = self._config
        token = config.auth_token.get_secret_value()
        url = f"{config.api_url.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        form = urlencode({"To": number, "From": config.from_number, "Body": text}).encode()
        try:
            await send(
                self._client,
                "POST",
                url,
                form,
                "application/x-www-form-urlencoded",
                {},
                auth=httpx.BasicAuth(config.account_sid, token),
                request_timeout=self._timeout,
                secrets=[token],
            )
        except DeliveryError as error:
            if error.permanent:
                progress.refused[number] = str(error)
            raise
        progress.sent.add(number)
