"""What each client method sends and how its answer is read, shared by the
sync and the async client so that the two cannot drift apart."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import TypeAdapter

from app.client.models import (
    Alert,
    AlertDetail,
    AlertPage,
    Channel,
    EscalationPolicy,
    EscalationTick,
    Heartbeat,
    OnCall,
    OncallImport,
    Override,
    Route,
    RouteTestResult,
    Schedule,
    Silence,
    Statistics,
    Submission,
    TeamPolicy,
    User,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    # A body that is not JSON (a TOML document), with its headers; `text`:
    # the answer is read as text, not JSON.
    content: bytes | None = None
    headers: dict[str, str] | None = None
    text: bool = False

    @property
    def idempotent(self) -> bool:
        return self.method in {"GET", "HEAD", "OPTIONS", "DELETE"}


def _model(cls: type[T]) -> Callable[[Any], T]:
    adapter = TypeAdapter(cls)
    return adapter.validate_python


def _params(**values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        if isinstance(value, list | tuple):
            value = [str(v) for v in value]
        out[name] = value
    return out


def send_alert(
    *,
    alert_type: str,
    severity: str,
    message: str,
    source: str,
    labels: dict[str, str] | None,
    details: dict[str, Any] | None,
    channels: Sequence[str] | None,
    dedup_key: str | None,
) -> Call[Submission]:
    body: dict[str, Any] = {
        "alert_type": alert_type,
        "severity": severity,
        "message": message,
        "source": source,
        "labels": labels or {},
        "details": details or {},
    }
    if channels is not None:
        body["channels"] = list(channels)
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return Call("POST", "/alerts", _model(Submission), json=body)


def submit_many(alerts: Sequence[Mapping[str, Any]], *, source: str) -> Call[list[Submission]]:
    """One POST /alerts with an array: `source` for the alerts that name none."""
    body = [{"source": source, **alert} for alert in alerts]
    return Call("POST", "/alerts", _model(list[Submission]), json=body)


def get_alert(alert_id: uuid.UUID | str) -> Call[AlertDetail]:
    return Call("GET", f"/alerts/{alert_id}", _model(AlertDetail))


def list_alerts(*, labels: dict[str, str] | None, text: str | None, **filters: Any) -> Call[AlertPage]:
    label = [f"{key}={value}" for key, value in labels.items()] if labels else None
    return Call("GET", "/alerts", _model(AlertPage), params=_params(label=label, q=text, **filters))


def acknowledge(alert_id: uuid.UUID | str, *, by: str, note: str | None) -> Call[Alert]:
    return Call("PATCH", f"/alerts/{alert_id}/acknowledge", _model(Alert), json={"by": by, "note": note})


def resolve(alert_id: uuid.UUID | str, *, resolved_by: str, notes: str | None) -> Call[Alert]:
    body = {"resolved_by": resolved_by, "notes": notes}
    return Call("PATCH", f"/alerts/{alert_id}/resolve", _model(Alert), json=body)


def change_status(alert_id: uuid.UUID | str, *, status: str, by: str, note: str | None) -> Call[Alert]:
    body = {"status": status, "by": by, "note": note}
    return Call("PATCH", f"/alerts/{alert_id}/status", _model(Alert), json=body)


def statistics(*, since: datetime | None, until: datetime | None) -> Call[Statistics]:
    return Call("GET", "/stats", _model(Statistics), params=_params(since=since, until=until))


def escalation_tick() -> Call[EscalationTick]:
    return Call("POST", "/escalation/tick", _model(EscalationTick))


def escalation_policy() -> Call[EscalationPolicy]:
    return Call("GET", "/escalation/policy", _model(EscalationPolicy))


def channels() -> Call[list[Channel]]:
    return Call("GET", "/channels", _model(list[Channel]))


def create_silence(body: dict[str, Any]) -> Call[Silence]:
    return Call("POST", "/silences", _model(Silence), json=body)


def list_silences(*, state: Sequence[str] | None) -> Call[list[Silence]]:
    return Call("GET", "/silences", _model(list[Silence]), params=_params(state=state))


def expire_silence(silence_id: uuid.UUID | str) -> Call[Silence]:
    return Call("DELETE", f"/silences/{silence_id}", _model(Silence))


def heartbeat(
    name: str,
    *,
    timeout_seconds: float | None,
    severity: str | None,
    labels: dict[str, str] | None,
    message: str | None,
) -> Call[Heartbeat]:
    """A beat; only the fields given are sent, so the stored ones are kept."""
    given = {"timeout_seconds": timeout_seconds, "severity": severity, "labels": labels, "message": message}
    body = {key: value for key, value in given.items() if value is not None}
    return Call("POST", f"/heartbeats/{_segment(name)}", _model(Heartbeat), json=body)


def list_heartbeats(*, state: Sequence[str] | None, team: str | None) -> Call[list[Heartbeat]]:
    return Call("GET", "/heartbeats", _model(list[Heartbeat]), params=_params(state=state, team=team))


def get_heartbeat(name: str, *, team: str | None) -> Call[Heartbeat]:
    return Call("GET", f"/heartbeats/{_segment(name)}", _model(Heartbeat), params=_params(team=team))


def retire_heartbeat(name: str, *, team: str | None) -> Call[Heartbeat]:
    return Call("DELETE", f"/heartbeats/{_segment(name)}", _model(Heartbeat), params=_params(team=team))


def list_schedules(*, team: str | None) -> Call[list[Schedule]]:
    return Call("GET", "/schedules", _model(list[Schedule]), params=_params(team=team))


def oncall(schedule_id: uuid.UUID | str, *, at: datetime | None) -> Call[OnCall]:
    return Call("GET", f"/schedules/{schedule_id}/oncall", _model(OnCall), params=_params(at=at))


def export_oncall(*, team: str | None) -> Call[str]:
    return Call(
        "GET",
        "/oncall/export",
        str,
        params=_params(team=team),
        headers={"Accept": "application/toml"},
        text=True,
    )


def import_oncall(document: str | bytes, *, dry_run: bool) -> Call[OncallImport]:
    content = document.encode("utf-8") if isinstance(document, str) else document
    return Call(
        "POST",
        "/oncall/import",
        _model(OncallImport),
        params=_params(dry_run="true" if dry_run else None),
        content=content,
        headers={"Content-Type": "application/toml"},
    )


def list_users(*, team: str | None) -> Call[list[User]]:
    return Call("GET", "/users", _model(list[User]), params=_params(team=team))


def create_user(body: Mapping[str, Any]) -> Call[User]:
    return Call("POST", "/users", _model(User), json=dict(body))


def delete_user(user_id: uuid.UUID | str) -> Call[User]:
    return Call("DELETE", f"/users/{user_id}", _model(User))


def create_schedule(body: Mapping[str, Any]) -> Call[Schedule]:
    return Call("POST", "/schedules", _model(Schedule), json=dict(body))


def delete_schedule(schedule_id: uuid.UUID | str) -> Call[Schedule]:
    return Call("DELETE", f"/schedules/{schedule_id}", _model(Schedule))


def list_overrides(
    schedule_id: uuid.UUID | str, *, start: datetime | None, end: datetime | None
) -> Call[list[Override]]:
    params = _params(**{"from": start, "to": end})
    return Call("GET", f"/schedules/{schedule_id}/overrides", _model(list[Override]), params=params)


def add_override(schedule_id: uuid.UUID | str, body: Mapping[str, Any]) -> Call[Override]:
    return Call("POST", f"/schedules/{schedule_id}/overrides", _model(Override), json=dict(body))


def delete_override(schedule_id: uuid.UUID | str, override_id: uuid.UUID | str) -> Call[Override]:
    return Call("DELETE", f"/schedules/{schedule_id}/overrides/{override_id}", _model(Override))


def list_policies(*, team: str | None) -> Call[list[TeamPolicy]]:
    return Call("GET", "/escalation-policies", _model(list[TeamPolicy]), params=_params(team=team))


def create_policy(body: Mapping[str, Any]) -> Call[TeamPolicy]:
    return Call("POST", "/escalation-policies", _model(TeamPolicy), json=dict(body))


def delete_policy(policy_id: uuid.UUID | str) -> Call[TeamPolicy]:
    return Call("DELETE", f"/escalation-policies/{policy_id}", _model(TeamPolicy))


def list_routes(*, team: str | None) -> Call[list[Route]]:
    return Call("GET", "/routes", _model(list[Route]), params=_params(team=team))


def create_route(body: Mapping[str, Any]) -> Call[Route]:
    return Call("POST", "/routes", _model(Route), json=dict(body))


def delete_route(route_id: uuid.UUID | str) -> Call[Route]:
    return Call("DELETE", f"/routes/{route_id}", _model(Route))


def test_routes(body: Mapping[str, Any]) -> Call[RouteTestResult]:
    return Call("POST", "/routes/test", _model(RouteTestResult), json=dict(body))


def _segment(name: str) -> str:
    # Quoted: a name with a space, `?` or `#` still reaches its route, which refuses it (422).
    return quote(name, safe="")


def ready() -> Call[dict[str, Any]]:
    return Call("GET", "/readyz", _model(dict[str, Any]))
