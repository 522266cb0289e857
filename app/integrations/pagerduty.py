"""PagerDuty's Events API v2, as a sender sees it.

Request and response shapes follow PagerDuty's documentation, so a tool that
speaks Events API v2 can be pointed here by changing its URL:

    202 {"status": "success", "message": "Event processed", "dedup_key": "..."}
    400 {"status": "invalid event", "message": "Event object is invalid", "errors": ["..."]}

The routing key is checked against the configured API keys (a key with the
`alerts:write` or `admin` scope); with no keys configured the service runs
open and any routing key is accepted.

Mapping of a trigger:

    alert_type  <- payload.class, else "pagerduty"
    severity    <- payload.severity: critical, error -> high, warning -> medium, info
    source      <- payload.source
    message     <- payload.summary
    labels      <- component, group, class (when given)
    details     <- custom_details, timestamp, links, images, client, client_url
    dedup_key   <- dedup_key, or a new one (returned) when absent
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from app.integrations.text import block, line
from app.schemas import AlertCreate
from app.settings import SEVERITY_ALIASES

DEFAULT_TYPE = "pagerduty"
WRITE_SCOPES = frozenset({"alerts:write", "admin"})

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL stores no NUL in text: a dedup_key with one would fail
        # the lookup of an acknowledge or resolve, not just be refused.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("NUL characters are not allowed")
        return value


class PagerDutyPayload(_Lenient):
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: datetime | None = None
    component: _Text | None = None
    group: _Text | None = None
    class_: _Text | None = Field(default=None, alias="class")
    custom_details: Any = None


class PagerDutyLink(_Lenient):
    href: _Text
    text: str | None = None


class PagerDutyImage(_Lenient):
    src: _Text
    href: str | None = None
    alt: str | None = None


class PagerDutyEvent(_Lenient):
    """An Events API v2 event: trigger, acknowledge or resolve."""

    routing_key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] | None
    ) = None
    payload: PagerDutyPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[PagerDutyLink] = Field(default_factory=list, max_length=50)
    images: list[PagerDutyImage] = Field(default_factory=list, max_length=50)


class PagerDutyAccepted(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Event processed"
    dedup_key: str


class PagerDutyInvalid(BaseModel):
    status: Literal["invalid event"] = "invalid event"
    message: str = "Event object is invalid"
    errors: list[str]


class InvalidEvent(Exception):
    """Answered as PagerDuty's 400: each error a sentence naming the field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def describe(errors: list[Any]) -> list[str]:
    """Pydantic errors as PagerDuty-style sentences."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        path = ".".join(loc)
        kind = err.get("type")
        if kind == "json_invalid":
            out.append("Request body is not valid JSON")
        elif kind in {"missing", "string_too_short"} or (kind == "model_type" and not path):
            out.append(f"'{path}' is missing or blank" if path else "Event object is missing")
        elif kind == "literal_error":
            out.append(f"'{path}' must be one of {err.get('ctx', {}).get('expected', '')}")
        else:
            out.append(f"'{path}' {err.get('msg', 'is invalid')}" if path else str(err.get("msg")))
    return out


def check(event: PagerDutyEvent) -> None:
    """What the models cannot say alone: which fields an action needs."""
    errors = []
    if event.event_action == "trigger" and event.payload is None:
        errors.append("'payload' is missing or blank")
    if event.event_action != "trigger" and event.dedup_key is None:
        errors.append("'dedup_key' is missing or blank")
    if errors:
        raise InvalidEvent(errors)


def new_dedup_key() -> str:
    return uuid.uuid4().hex


def submission(event: PagerDutyEvent, *, dedup_key: str, key_name: str | None) -> AlertCreate:
    payload = event.payload
    assert payload is not None  # check() ran
    labels = {
        name: line(value, 1_000)
        for name, value in (
            ("component", payload.component),
            ("group", payload.group),
            ("class", payload.class_),
        )
        if value
    }
    details: dict[str, Any] = {
        "custom_details": payload.custom_details,
        "timestamp": payload.timestamp.isoformat() if payload.timestamp else None,
        "links": [link.model_dump(exclude_none=True) for link in event.links],
        "images": [image.model_dump(exclude_none=True) for image in event.images],
        "client": event.client,
        "client_url": event.client_url,
        "integration": key_name,
    }
    try:
        return AlertCreate(
            alert_type=line(payload.class_ or DEFAULT_TYPE),
            severity=SEVERITY_ALIASES[payload.severity],
            message=block(payload.summary) or line(payload.summary),
            source=line(payload.source),
            labels=labels,
            details={k: v for k, v in details.items() if v not in (None, [], "")},
            dedup_key=dedup_key,
        )
    except ValidationError as exc:
        raise InvalidEvent([f"'payload': {e['msg']}" for e in exc.errors()]) from exc


def actor(key_name: str | None) -> str:
    return key_name or "pagerduty"
