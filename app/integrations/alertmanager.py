"""Prometheus Alertmanager's webhook payload (version 4), and its mapping.

Grafana's alerting sends the same shape with extra fields; they are ignored.
One Alertmanager alert becomes one submission:

    alert_type  <- labels.alertname
    severity    <- labels.severity, mapped (settings.SEVERITY_ALIASES; unknown -> medium)
    source      <- labels.instance, else labels.job, else "alertmanager"
    message     <- annotations.summary, else annotations.description
    labels      <- all labels
    dedup_key   <- the alert's Alertmanager fingerprint
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from app.integrations.text import block, line
from app.schemas import MAX_LABELS, AlertCreate
from app.settings import Severity, canonical_severity

DEFAULT_SEVERITY: Severity = "medium"
RESOLVED_BY = "alertmanager"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertmanagerAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(default=None, max_length=255)


class AlertmanagerWebhook(_Lenient):
    """The body Alertmanager's webhook_configs POST."""

    version: str = "4"
    groupKey: str | None = None
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    # At most max_batch_alerts: the route counts them (the limit is a setting).
    alerts: list[AlertmanagerAlert]


AlertmanagerOutcome = Literal[
    "created", "duplicate", "reopened", "resolved", "already_resolved", "unknown", "rejected", "heartbeat"
]


class AlertmanagerResult(BaseModel):
    index: int = Field(description="Position in the payload's `alerts`")
    fingerprint: str | None
    status: Literal["firing", "resolved"]
    outcome: AlertmanagerOutcome = Field(
        description=(
            "created/duplicate/reopened for a firing alert; resolved, already_resolved or unknown "
            "(never seen) for a resolved one; rejected when the alert cannot be mapped (see `error`); "
            "heartbeat for the watchdog alert (`alertmanager_watchdog`), a beat of `heartbeat_name`"
        )
    )
    alert_id: str | None = None
    error: str | None = None
    heartbeat_name: str | None = None


class AlertmanagerReceipt(BaseModel):
    received: int
    truncated_alerts: int
    results: list[AlertmanagerResult]


def severity(labels: dict[str, str]) -> Severity:
    return canonical_severity(labels.get("severity", "")) or DEFAULT_SEVERITY


def _iso(moment: datetime | None) -> str | None:
    # Alertmanager sends the zero time (year 1) for "not ended".
    return moment.isoformat() if moment is not None and moment.year > 1 else None


def submission(
    alert: AlertmanagerAlert, hook: AlertmanagerWebhook, channels: list[str] | None
) -> AlertCreate:
    """The submission for one alert; raises pydantic's ValidationError or
    ValueError when it cannot be one (no alertname, say)."""
    labels = alert.labels
    name = line(labels.get("alertname", ""))
    if not name:
        raise ValueError("labels.alertname is missing: it names the alert type")
    annotations = alert.annotations
    summary = block(annotations.get("summary", ""))
    description = block(annotations.get("description", ""))
    details: dict[str, Any] = {
        "annotations": annotations,
        "generator_url": alert.generatorURL,
        "starts_at": _iso(alert.startsAt),
        "alertmanager_fingerprint": alert.fingerprint,
        "external_url": hook.externalURL,
        "receiver": hook.receiver,
        "group_key": hook.groupKey,
    }
    if summary and description:
        details["description"] = description
    return AlertCreate(
        alert_type=name,
        severity=severity(labels),
        message=summary or description or f"{name} is firing",
        source=line(labels.get("instance") or labels.get("job") or "alertmanager"),
        labels={line(k, 100): line(v, 1_000) for k, v in list(labels.items())[:MAX_LABELS]},
        details={k: v for k, v in details.items() if v not in (None, {}, "")},
        channels=channels,
        dedup_key=line(alert.fingerprint, 255) if alert.fingerprint else None,
    )


def is_watchdog(alert: AlertmanagerAlert, watchdog: str) -> bool:
    """The always-firing alert a pipeline sends to prove it is alive."""
    return bool(watchdog) and alert.labels.get("alertname") == watchdog


def watchdog_heartbeat(hook: AlertmanagerWebhook) -> str:
    """The heartbeat of one Alertmanager: `alertmanager:<host:port>` of its
    external URL (one per instance of a cluster, which all send it), else
    of its receiver."""
    origin = urlsplit(hook.externalURL or "").netloc or hook.receiver or "default"
    cleaned = re.sub(r"[^A-Za-z0-9._:-]", "-", origin)[:180]
    return f"alertmanager:{cleaned}"


def ended_note(alert: AlertmanagerAlert) -> str:
    return f"resolved in Alertmanager (endsAt {_iso(alert.endsAt) or 'unknown'})"
