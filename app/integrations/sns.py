"""Amazon SNS messages (HTTP/HTTPS subscriptions), their signatures, and the
mapping of a CloudWatch alarm to a submission.

SNS signs every message it posts with the key of a certificate it serves
from `SigningCertURL`. The signed bytes are the message's own fields in a
fixed order, each as "Name\\nvalue\\n" (AWS: "Verifying the signatures of
Amazon SNS messages"):

    Notification                    Message, MessageId, Subject (when given),
                                    Timestamp, TopicArn, Type
    SubscriptionConfirmation,       Message, MessageId, SubscribeURL,
    UnsubscribeConfirmation         Timestamp, Token, TopicArn, Type

SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA (PKCS #1 v1.5). A URL
SNS hands us (its certificate, a subscription to confirm) is trusted only on
an SNS endpoint over https, `sns.<region>.amazonaws.com`, or on a host the
configuration names (`sns_allowed_hosts`, for a private endpoint).

A CloudWatch alarm notification's Message is the alarm as JSON:

    alert_type  <- AlarmName
    severity    <- settings.sns_alarm_severity (high unless configured)
    source      <- Trigger.Namespace and dimensions: "AWS/EC2 InstanceId=i-123"
    message     <- NewStateReason
    labels      <- the dimensions, aws_account, aws_region
    dedup_key   <- AlarmArn, else account:region:AlarmName
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field

from app.errors import AppError, Forbidden
from app.integrations.text import block, line
from app.schemas import MAX_LABELS, AlertCreate
from app.settings import Severity

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
MAX_AGE = timedelta(hours=1)  # AWS: refuse a message whose Timestamp is older
MAX_AHEAD = timedelta(minutes=5)  # a clock a little ahead of ours is not an attack
RESOLVED_BY = "cloudwatch"
DEFAULT_TYPE = "sns"

MessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]

_SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


class SnsMessage(BaseModel):
    """The JSON body SNS posts, whatever its content type says."""

    model_config = ConfigDict(extra="ignore")

    Type: MessageType
    MessageId: str
    TopicArn: str
    Message: str
    Timestamp: str  # kept as sent: it is part of the signed bytes
    SignatureVersion: str
    Signature: str
    SigningCertURL: str
    Subject: str | None = None
    SubscribeURL: str | None = None
    Token: str | None = None
    UnsubscribeURL: str | None = None


SnsOutcome = Literal[
    "confirmed",
    "unsubscribed",
    "created",
    "duplicate",
    "reopened",
    "resolved",
    "already_resolved",
    "unknown",
    "recorded",
    "ignored",
]


class SnsReceipt(BaseModel):
    type: MessageType
    outcome: SnsOutcome = Field(
        description=(
            "confirmed: the subscription was confirmed; unsubscribed: acknowledged, nothing done; "
            "created/duplicate/reopened: an alarm or message submitted; resolved, already_resolved "
            "or unknown (never seen) for an alarm back to OK; recorded: INSUFFICIENT_DATA written "
            "to the alarm's alert history; ignored: INSUFFICIENT_DATA for an alarm never seen"
        )
    )
    alert_id: str | None = None


# --- signatures ---------------------------------------------------------------------


def canonical(message: SnsMessage) -> bytes:
    """The bytes SNS signed for this message."""
    parts = []
    for name in _SIGNED_FIELDS[message.Type]:
        value = getattr(message, name)
        if value is None:
            if name == "Subject":
                continue  # a Notification without a subject signs without it
            raise AppError(f"{name} is missing: a {message.Type} carries it", field=name)
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def trusted_url(url: str, allowed_hosts: list[str]) -> str | None:
    """Why a URL from a message may not be fetched; None when it may."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return f"{url!r} is not a URL"
    allowed = {entry.lower() for entry in allowed_hosts}
    if host and (host in allowed or f"{host}:{port}" in allowed):
        return None if parts.scheme in ("http", "https") else f"{url!r} is not http(s)"
    if not SNS_HOST.match(host):
        return f"host {host or '(none)'!r} is not an Amazon SNS endpoint nor in sns_allowed_hosts"
    if parts.scheme != "https":
        return f"{url!r} is not https"
    return None


def check_fresh(message: SnsMessage, now: datetime) -> None:
    try:
        sent = datetime.fromisoformat(message.Timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise AppError(f"Timestamp {message.Timestamp!r} is not a date", field="Timestamp") from None
    if sent.tzinfo is None:
        raise AppError(f"Timestamp {message.Timestamp!r} has no time zone", field="Timestamp")
    if now - sent > MAX_AGE:
        raise Forbidden(
            f"stale message: Timestamp {message.Timestamp} is over an hour old", field="Timestamp"
        )
    if sent - now > MAX_AHEAD:
        raise Forbidden(f"Timestamp {message.Timestamp} is in the future", field="Timestamp")


def verify(message: SnsMessage, certificate_pem: bytes, now: datetime) -> None:
    """Raises Forbidden unless the certificate's key signed this message."""
    algorithm = _HASHES.get(message.SignatureVersion)
    if algorithm is None:
        raise AppError(
            f"SignatureVersion {message.SignatureVersion!r} is not 1 or 2", field="SignatureVersion"
        )
    try:
        signature = base64.b64decode(message.Signature, validate=True)
    except (binascii.Error, ValueError):
        raise Forbidden("Signature is not base64", field="Signature") from None
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise Forbidden("the signing certificate is not a PEM certificate", field="SigningCertURL") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Forbidden("the signing certificate is not valid now", field="SigningCertURL")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Forbidden("the signing certificate's key is not RSA", field="SigningCertURL")
    try:
        key.verify(signature, canonical(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Forbidden("the signature does not match the message", field="Signature") from None


# --- CloudWatch alarms -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alarm:
    name: str
    state: str  # ALARM, OK, INSUFFICIENT_DATA
    reason: str
    key: str  # the dedup key
    body: dict[str, Any]


def alarm(message: SnsMessage) -> Alarm | None:
    """The CloudWatch alarm this Notification carries; None for any other message."""
    try:
        body = json.loads(message.Message)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    name, state = body.get("AlarmName"), body.get("NewStateValue")
    if not isinstance(name, str) or not name.strip() or not isinstance(state, str):
        return None
    return Alarm(
        name=line(name),
        state=state,
        reason=block(body.get("NewStateReason") or "") or f"{name} is {state}",
        key=_key(body, name),
        body=body,
    )


def _key(body: dict[str, Any], name: str) -> str:
    arn = body.get("AlarmArn")
    key = line(arn, 10_000) if isinstance(arn, str) and arn.strip() else None
    key = key or f"{body.get('AWSAccountId', '')}:{_region(body)}:{name}"
    # An alarm name may be 255 characters, so its ARN can be longer than a key.
    return key if len(key) <= 255 else "cloudwatch:" + hashlib.sha256(key.encode()).hexdigest()


def _region(body: dict[str, Any]) -> str:
    """The region's code from the alarm's ARN (the Region field is its long name)."""
    arn = str(body.get("AlarmArn") or "").split(":")
    return arn[3] if len(arn) > 3 and arn[3] else str(body.get("Region") or "")


def _dimensions(body: dict[str, Any]) -> list[tuple[str, str]]:
    trigger = body.get("Trigger")
    raw = trigger.get("Dimensions") if isinstance(trigger, dict) else None
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and item.get("name"):
            out.append((line(item["name"], 100), line(item.get("value", ""), 1_000)))
    return out


def alarm_submission(found: Alarm, *, severity: Severity, topic: str) -> AlertCreate:
    body = found.body
    raw_trigger = body.get("Trigger")
    trigger: dict[str, Any] = raw_trigger if isinstance(raw_trigger, dict) else {}
    dimensions = _dimensions(body)
    namespace = line(trigger.get("Namespace") or "cloudwatch")
    source = " ".join([namespace, *(f"{k}={v}" for k, v in dimensions)])
    labels = dict(dimensions[: MAX_LABELS - 2])
    labels.update(
        aws_account=line(body.get("AWSAccountId", ""), 1_000), aws_region=line(_region(body), 1_000)
    )
    details = {
        "alarm_arn": body.get("AlarmArn"),
        "alarm_description": body.get("AlarmDescription"),
        "old_state": body.get("OldStateValue"),
        "state_change_time": body.get("StateChangeTime"),
        "region": body.get("Region"),
        "metric": trigger.get("MetricName"),
        "threshold": trigger.get("Threshold"),
        "comparison": trigger.get("ComparisonOperator"),
        "topic_arn": topic,
    }
    return AlertCreate(
        alert_type=found.name,
        severity=severity,
        message=found.reason,
        source=line(source),
        labels={k: v for k, v in labels.items() if v},
        details={k: v for k, v in details.items() if v not in (None, "")},
        dedup_key=found.key,
    )


def message_submission(message: SnsMessage) -> AlertCreate:
    """Any other Notification: its Subject names it, its Message says it."""
    subject = line(message.Subject or "")
    topic = message.TopicArn.rsplit(":", 1)[-1]
    return AlertCreate(
        alert_type=subject or DEFAULT_TYPE,
        severity="medium",
        message=block(message.Message) or subject or "(empty SNS message)",
        source=line(topic or "sns"),
        labels={"topic_arn": line(message.TopicArn, 1_000)},
        details={"message_id": message.MessageId, "timestamp": message.Timestamp},
    )
