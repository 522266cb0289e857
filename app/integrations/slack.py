"""Slack's interactivity requests: the v0 signature and the button payload.

Slack signs every request it sends an app: `X-Slack-Request-Timestamp` (Unix
seconds) and `X-Slack-Signature` = `v0=` + hex HMAC-SHA256 of
`v0:{timestamp}:{raw body}` keyed by the app's signing secret. A request is
taken only when its timestamp is within five minutes of now and the
signature matches one of the configured secrets (compared in constant
time); the caller refuses a signature it has already taken (a replay).

A click on a button arrives form-encoded: `payload` holds the JSON of a
`block_actions` interaction, with the user and the actions clicked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from app.errors import AppError

MAX_AGE_SECONDS = 5 * 60
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"


class SignatureRefused(AppError):
    """No signature, a stale timestamp, or a signature no secret made."""

    status_code = 401
    code = "bad_signature"


class Replayed(AppError):
    status_code = 409
    code = "replayed"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    headers: Mapping[str, str], body: bytes, secrets: Mapping[str, str], *, now: datetime
) -> tuple[str, list[str]]:
    """The request's signature and the names whose secret made it; raises
    SignatureRefused. Every secret is tried, so that channels sharing one
    app (one secret) all count."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not given:
        raise SignatureRefused(
            "X-Slack-Request-Timestamp and X-Slack-Signature are required", field=SIGNATURE_HEADER
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRefused("X-Slack-Request-Timestamp is not Unix seconds", field=TIMESTAMP_HEADER)
    if abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS:
        raise SignatureRefused(
            "X-Slack-Request-Timestamp is more than five minutes from now", field=TIMESTAMP_HEADER
        )
    signed_by = [
        name
        for name, secret in secrets.items()
        if hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode("utf-8", "replace"))
    ]
    if not signed_by:
        raise SignatureRefused(
            "X-Slack-Signature matches no Slack channel's signing_secret", field=SIGNATURE_HEADER
        )
    return given, signed_by


class BadPayload(AppError):
    code = "bad_payload"


@dataclass(frozen=True, slots=True)
class Click:
    """One button clicked on an alert's message."""

    action_id: str
    alert_id: uuid.UUID
    user: str  # user.username, else user.name, else user.id


def parse(body: bytes) -> Click | None:
    """The click in a block_actions payload; None for any other interaction
    (nothing to do). Raises BadPayload."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        payload: Any = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        raise BadPayload("the form has no JSON `payload`", field="payload") from None
    if not isinstance(payload, dict):
        raise BadPayload("`payload` is not a JSON object", field="payload")
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise BadPayload("a block_actions payload without actions", field="payload.actions")
    action = actions[0]
    try:
        alert_id = uuid.UUID(str(action.get("value")))
    except ValueError:
        raise BadPayload("the action's value is not an alert id", field="payload.actions.0.value") from None
    user: dict[str, Any] = payload["user"] if isinstance(payload.get("user"), dict) else {}
    name = next((str(user[k]) for k in ("username", "name", "id") if user.get(k)), "")
    if not name:
        raise BadPayload("the payload names no user", field="payload.user")
    return Click(action_id=str(action.get("action_id") or ""), alert_id=alert_id, user=name)
