"""One HTTP delivery attempt, shared by every HTTP adapter.

Status mapping (the outbox retries anything not permanent):
- 2xx: delivered.
- 3xx: an error, and permanent. Redirects are never followed: the peer is a
  configured URL, and following one could send the signed body somewhere else.
  A redirect means the URL in the configuration needs fixing.
- 408, 429 and 5xx: transient; Retry-After (seconds or an HTTP date) is passed on.
- any other 4xx: permanent; the same request will be refused again.

Rate limits (rate_limit below): besides the Retry-After header, providers say
how long to wait in their JSON answers: Telegram `{"ok": false,
"error_code": 429, "parameters": {"retry_after": N}}`, Discord
`{"retry_after": 0.52, ...}` (seconds, a float). Twilio's 429 carries code
20429, PagerDuty's, Opsgenie's and Slack's a bare 429 (Slack adds
Retry-After). Any of these marks the error `rate_limited` and passes the
longest wait stated on; the outbox then pauses the whole channel
(services/flood.py), not only the row.
- transport errors (connect, read, timeouts, protocol): transient.

Messages name the method and status but never the URL: a Slack webhook URL is
itself a credential, and webhook URLs often carry tokens in the query. An
adapter also names its secrets (a token in the path, a key in the body), and
they are scrubbed from every message, the peer's quoted reply included, so
that not even a peer echoing the request can put them in the outbox.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

import httpx

from app.notifiers.base import DeliveryError, DeliveryResult
from app.notifiers.templates import ChannelTemplates, Templated


class _Timed(Templated, Protocol):
    @property
    def timeout_seconds(self) -> float | None: ...


ChannelT = TypeVar("ChannelT", bound=_Timed)


class HttpNotifier(Generic[ChannelT]):
    """What every HTTP adapter holds: its channel's name and configuration,
    the shared client, its timeout (the channel's own, else the delivery
    default the registry passes) and its templates. Its repr names the
    channel only: URLs carry tokens and headers credentials."""

    def __init__(
        self, name: str, config: ChannelT, client: httpx.AsyncClient, *, timeout: float | None = None
    ) -> None:
        self.name = name
        self._config = config
        self._client = client
        self._timeout = timeout if timeout is not None else config.timeout_seconds
        self._templates = ChannelTemplates.of(name, config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_TRANSIENT_4XX = {408, 429}
_SNIPPET = 200  # enough of the peer's error body to diagnose, not to flood the row
REDACTED = "[redacted]"


def json_bytes(payload: Any) -> bytes:
    """Serialise once: the bytes sent are the bytes signed."""
    return json.dumps(payload, default=str, separators=(",", ":")).encode()


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# Provider codes, in a JSON answer, that mean "too many requests".
_RATE_LIMIT_CODES = {429, 20429}


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0.0, float(value)) if math.isfinite(value) else None


def rate_limit(response: httpx.Response) -> tuple[float | None, bool]:
    """What a refusal says of the provider's rate limit: the longest wait it
    states (Retry-After header, Telegram's `parameters.retry_after`,
    Discord's `retry_after`), and whether it is a rate limit at all (429, or
    a provider code for one in the body: Telegram `error_code`, Twilio `code`)."""
    waits = [retry_after_seconds(response.headers.get("Retry-After"))]
    limited = response.status_code == 429
    try:
        body = response.json()
    except ValueError:  # not JSON (UnicodeDecodeError is one too)
        body = None
    if isinstance(body, dict):
        parameters = body.get("parameters")
        if isinstance(parameters, dict):
            waits.append(_seconds(parameters.get("retry_after")))
        waits.append(_seconds(body.get("retry_after")))
        limited = limited or any(
            not isinstance(body.get(key), bool) and body.get(key) in _RATE_LIMIT_CODES
            for key in ("error_code", "code")
        )
    stated = [wait for wait in waits if wait is not None]
    return (max(stated) if stated else None), limited


def _snippet(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    # Scrubbed before it is cut, so no part of a secret survives at the cut.
    text = " ".join(redact(response.text, secrets)[:_SNIPPET].split())
    return f": {text}" if text else ""


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


async def post_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    request_timeout: float | None = None,
    secrets: Iterable[str] = (),
) -> DeliveryResult:
    """Send `body` as JSON; return the result or raise DeliveryError.

    `request_timeout` bounds each phase (connect, write, read); None keeps the client's
    own. The caller's asyncio.timeout bounds the whole attempt.
    """
    return await send(
        client,
        method,
        url,
        body,
        "application/json",
        headers,
        request_timeout=request_timeout,
        secrets=secrets,
    )


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str],
    *,
    auth: httpx.Auth | None = None,
    request_timeout: float | None = None,
    secrets: Iterable[str] = (),
) -> DeliveryResult:
    """Send `body` as `content_type`; the status mapping is the module's."""
    response = await exchange(
        client,
        method,
        url,
        body,
        content_type,
        headers,
        auth=auth,
        request_timeout=request_timeout,
        secrets=secrets,
    )
    return DeliveryResult(detail=f"HTTP {response.status_code}", extra={"status": response.status_code})


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str],
    *,
    auth: httpx.Auth | None = None,
    request_timeout: float | None = None,
    secrets: Iterable[str] = (),
) -> httpx.Response:
    """One request: the 2xx response, for an adapter that reads the answer
    (Slack's Web API answers errors with 200); any other status raises
    DeliveryError by the module's mapping."""
    secrets = [s for s in secrets if s]
    merged = httpx.Headers(headers)
    merged["Content-Type"] = content_type
    try:
        response = await client.request(
            method,
            url,
            content=body,
            headers=merged,
            auth=auth,
            follow_redirects=False,
            timeout=httpx.USE_CLIENT_DEFAULT if request_timeout is None else request_timeout,
        )
    except httpx.HTTPError as exc:
        # str(exc) is httpcore's reason ("[Errno 111] Connection refused"), no URL.
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = DeliveryError(redact(f"{method} failed: {why}", secrets))
        if secrets:
            raise error from None  # the cause holds the request, URL and all
        raise error from exc

    status = response.status_code
    if 200 <= status < 300:
        return response

    reason = f"{method} got HTTP {status} {response.reason_phrase}".rstrip()
    if 300 <= status < 400:
        raise DeliveryError(f"{reason} (redirects are not followed)", permanent=True)
    retry_after, limited = rate_limit(response)
    raise DeliveryError(
        reason + _snippet(response, secrets),
        retry_after=retry_after,
        permanent=400 <= status < 500 and status not in _TRANSIENT_4XX and not limited,
        rate_limited=limited,
    )
