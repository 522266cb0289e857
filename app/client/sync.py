"""AlertClient: the blocking client.

from app.client import AlertClient

with AlertClient("http://alerts.internal:8000", api_key="...") as alerts:
    sent = alerts.send_alert(alert_type="disk_full", severity="high", message="/var 91%")
    alerts.acknowledge(sent.id, by="alice")
    alerts.resolve_alert(sent.id, resolved_by="alice", notes="cleaned up")
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from app.client import calls, defaults, transport
from app.client.errors import AlertServiceError
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


class AlertClient:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        source: str | None = None,
        actor: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`base_url` and `api_key` default to ALERTS_URL and ALERTS_API_KEY."""
        self.base_url = defaults.base_url(base_url)
        self.source = source or defaults.source()
        self.actor = actor or defaults.actor()
        self.retry = transport.RetryPolicy(retries, backoff_seconds, max_backoff_seconds)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=transport.headers(defaults.api_key(api_key)),
            timeout=timeout,
            transport=http_transport,
        )

    def __enter__(self) -> AlertClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, call: calls.Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params,
                    content=call.content,
                    headers=call.headers,
                )
            except httpx.TransportError as exc:
                if attempt > self.retry.retries or not transport.retryable_error(
                    exc, idempotent=call.idempotent
                ):
                    raise transport.unreachable(self.base_url, exc, attempt) from exc
                self._sleep(self.retry.delay(attempt))
                continue
            if response.status_code in transport.RETRY_STATUSES and attempt <= self.retry.retries:
                self._sleep(self.retry.delay(attempt, transport.retry_after(response)))
                continue
            if response.is_error:
                raise transport.error_for(response)
            return call.parse(response.text if call.text else response.json())

    # --- alerts ---------------------------------------------------------------

    def send_alert(
        self,
        *,
        alert_type: str,
        severity: str,
        message: str,
        source: str | None = None,
        labels: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
        channels: Sequence[str] | None = None,
        dedup_key: str | None = None,
    ) -> Submission:
        """Submit an alert; `outcome` says created, duplicate or reopened."""
        return self._run(
            calls.send_alert(
                alert_type=alert_type,
                severity=severity,
                message=message,
                source=source or self.source,
                labels=labels,
                details=details,
                channels=channels,
                dedup_key=dedup_key,
            )
        )

    def submit_many(self, alerts: Sequence[Mapping[str, Any]]) -> list[Submission]:
        """Submit alerts as one batch: one transaction, all or nothing, one
        Submission per alert in order (a repeat of an alert in the batch
        merges into the first). Each alert is a dict of POST /alerts fields;
        `source` defaults to the client's. At most the service's
        `max_batch_alerts` (1,000 unless configured)."""
        if not alerts:
            return []  # the service refuses an empty batch; there is nothing to send
        return self._run(calls.submit_many(alerts, source=self.source))

    def get_alert(self, alert_id: uuid.UUID | str) -> AlertDetail:
        return self._run(calls.get_alert(alert_id))

    def list_alerts(
        self,
        *,
        status: Sequence[str] | None = None,
        severity: Sequence[str] | None = None,
        alert_type: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        labels: dict[str, str] | None = None,
        text: str | None = None,
        team: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AlertPage:
        return self._run(
            calls.list_alerts(
                status=status,
                severity=severity,
                alert_type=alert_type,
                source=source,
                since=since,
                until=until,
                labels=labels,
                text=text,
                team=team,
                limit=limit,
                cursor=cursor,
            )
        )

    def acknowledge(
        self, alert_id: uuid.UUID | str, *, by: str | None = None, note: str | None = None
    ) -> Alert:
        return self._run(calls.acknowledge(alert_id, by=by or self.actor, note=note))

    def resolve_alert(
        self, alert_id: uuid.UUID | str, *, resolved_by: str | None = None, notes: str | None = None
    ) -> Alert:
        return self._run(calls.resolve(alert_id, resolved_by=resolved_by or self.actor, notes=notes))

    def change_status(
        self, alert_id: uuid.UUID | str, status: str, *, by: str | None = None, note: str | None = None
    ) -> Alert:
        return self._run(calls.change_status(alert_id, status=status, by=by or self.actor, note=note))

    # --- reporting and operations -----------------------------------------------

    def get_statistics(self, *, since: datetime | None = None, until: datetime | None = None) -> Statistics:
        return self._run(calls.statistics(since=since, until=until))

    def check_escalations(self) -> EscalationTick:
        """Run one escalation tick now; answers the steps it took."""
        return self._run(calls.escalation_tick())

    def get_escalation_policy(self) -> EscalationPolicy:
        return self._run(calls.escalation_policy())

    def list_channels(self) -> list[Channel]:
        return self._run(calls.channels())

    def create_silence(
        self,
        *,
        matchers: Sequence[dict[str, Any]],
        duration_minutes: float | None = None,
        ends_at: datetime | None = None,
        starts_at: datetime | None = None,
        comment: str,
        created_by: str | None = None,
    ) -> Silence:
        body = {
            "matchers": list(matchers),
            "duration_minutes": duration_minutes,
            "ends_at": ends_at.isoformat() if ends_at else None,
            "starts_at": starts_at.isoformat() if starts_at else None,
            "comment": comment,
            "created_by": created_by or self.actor,
        }
        return self._run(calls.create_silence(body))

    def list_silences(self, *, state: Sequence[str] | None = None) -> list[Silence]:
        return self._run(calls.list_silences(state=state))

    def expire_silence(self, silence_id: uuid.UUID | str) -> Silence:
        return self._run(calls.expire_silence(silence_id))

    # --- heartbeats ---------------------------------------------------------------

    def heartbeat(
        self,
        name: str,
        *,
        timeout_seconds: float | None = None,
        severity: str | None = None,
        labels: dict[str, str] | None = None,
        message: str | None = None,
    ) -> Heartbeat:
        """Beat: `name` is alive. With no beat for `timeout_seconds` (300 at
        first) a heartbeat_missed alert opens; the next beat resolves it.
        A field left out keeps its stored value."""
        return self._run(
            calls.heartbeat(
                name, timeout_seconds=timeout_seconds, severity=severity, labels=labels, message=message
            )
        )

    def list_heartbeats(
        self, *, state: Sequence[str] | None = None, team: str | None = None
    ) -> list[Heartbeat]:
        return self._run(calls.list_heartbeats(state=state, team=team))

    def get_heartbeat(self, name: str, *, team: str | None = None) -> Heartbeat:
        return self._run(calls.get_heartbeat(name, team=team))

    def retire_heartbeat(self, name: str, *, team: str | None = None) -> Heartbeat:
        """Delete a heartbeat, resolving its open missed alert."""
        return self._run(calls.retire_heartbeat(name, team=team))

    # --- on call -------------------------------------------------------------------

    def list_schedules(self, *, team: str | None = None) -> list[Schedule]:
        return self._run(calls.list_schedules(team=team))

    def oncall(self, schedule_id: uuid.UUID | str, *, at: datetime | None = None) -> OnCall:
        """Who is on call on the schedule at `at` (default: now); `user` None: nobody."""
        return self._run(calls.oncall(schedule_id, at=at))

    def export_oncall(self, *, team: str | None = None) -> str:
        """The team's on-call configuration as a TOML document (a key of one team: its own)."""
        return self._run(calls.export_oncall(team=team))

    def import_oncall(self, document: str | bytes, *, dry_run: bool = False) -> OncallImport:
        """Replace the document's team's on-call configuration with it; with
        `dry_run`, only answer what would change."""
        return self._run(calls.import_oncall(document, dry_run=dry_run))

    # --- routing --------------------------------------------------------------------

    def list_users(self, *, team: str | None = None) -> list[User]:
        """The key's team's users, by name (`team`: one team's, for keys of every team)."""
        return self._run(calls.list_users(team=team))

    def create_user(self, body: Mapping[str, Any]) -> User:
        """A user from the fields of POST /users."""
        return self._run(calls.create_user(body))

    def delete_user(self, user_id: uuid.UUID | str) -> User:
        return self._run(calls.delete_user(user_id))

    def create_schedule(self, body: Mapping[str, Any]) -> Schedule:
        """A schedule with its layers, from the fields of POST /schedules."""
        return self._run(calls.create_schedule(body))

    def delete_schedule(self, schedule_id: uuid.UUID | str) -> Schedule:
        return self._run(calls.delete_schedule(schedule_id))

    def list_overrides(
        self, schedule_id: uuid.UUID | str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[Override]:
        """The schedule's overrides overlapping `start`-`end` (default: from now, 90 days)."""
        return self._run(calls.list_overrides(schedule_id, start=start, end=end))

    def add_override(self, schedule_id: uuid.UUID | str, body: Mapping[str, Any]) -> Override:
        """`user_id` covers the schedule from `start` to `end` (the fields of POST .../overrides)."""
        return self._run(calls.add_override(schedule_id, body))

    def delete_override(self, schedule_id: uuid.UUID | str, override_id: uuid.UUID | str) -> Override:
        return self._run(calls.delete_override(schedule_id, override_id))

    def list_policies(self, *, team: str | None = None) -> list[TeamPolicy]:
        """The key's team's escalation policies (`team`: one team's, for keys of every team)."""
        return self._run(calls.list_policies(team=team))

    def create_policy(self, body: Mapping[str, Any]) -> TeamPolicy:
        """A policy from the fields of POST /escalation-policies."""
        return self._run(calls.create_policy(body))

    def delete_policy(self, policy_id: uuid.UUID | str) -> TeamPolicy:
        return self._run(calls.delete_policy(policy_id))

    def list_routes(self, *, team: str | None = None) -> list[Route]:
        """The key's team's routes, in the order they are tried."""
        return self._run(calls.list_routes(team=team))

    def create_route(self, body: Mapping[str, Any]) -> Route:
        """A route from the fields of POST /routes."""
        return self._run(calls.create_route(body))

    def delete_route(self, route_id: uuid.UUID | str) -> Route:
        return self._run(calls.delete_route(route_id))

    def test_routes(self, body: Mapping[str, Any]) -> RouteTestResult:
        """Which routes an example alert would take (POST /routes/test); nothing is created."""
        return self._run(calls.test_routes(body))

    def ready(self) -> bool:
        """True when the service answers and its database is reachable."""
        try:
            return self._run(calls.ready()).get("status") == "ready"
        except AlertServiceError:
            return False
