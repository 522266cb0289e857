"""Retries, backoff and error mapping, shared by both clients.

Retried: failures to connect (the request never left), and 503 answers (the
service refused before doing anything, e.g. its database is down). A request
that may have reached the service is retried only when it is idempotent.
Backoff is exponential with full jitter, and a Retry-After answer is honoured
within the cap. The loop is a few lines in each client: a retry library would
need wrapping for both styles anyway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx

from app.client.errors import AlertServiceError, ConnectionFailed, for_status

USER_AGENT = "alert-service-client/0.1"
RETRY_STATUSES = frozenset({503})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        wait = random.uniform(0, min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.max_backoff_seconds)


def headers(api_key: str | None) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    return out


def retryable_error(exc: httpx.TransportError, *, idempotent: bool) -> bool:
    return isinstance(exc, _NEVER_SENT) or (idempotent and isinstance(exc, _MAYBE_SENT))


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def unreachable(base_url: str, exc: httpx.TransportError, attempts: int) -> ConnectionFailed:
    reason = str(exc) or type(exc).__name__
    return ConnectionFailed(
        f"cannot reach the alert service at {base_url} after {attempts} attempt(s): {reason}"
    )


def error_for(response: httpx.Response) -> AlertServiceError:
    """The exception for a 4xx/5xx answer, carrying the service's error body."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        message = str(body.get("message") or response.reason_phrase)
        listed = body.get("errors")
        errors: list[Any] = listed if isinstance(listed, list) else []
        code, field = body.get("code"), body.get("field")
    else:
        message, errors, code, field = (str(body)[:500] or response.reason_phrase), [], None, None
    cls = for_status(response.status_code)
    return cls(
        message,
        status_code=response.status_code,
        code=str(code) if code else None,
        field=str(field) if field else None,
        errors=[e for e in errors if isinstance(e, dict)],
        body=body,
    )
