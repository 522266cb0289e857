"""AsyncAlertClient: the asyncio client, method for method the same as AlertClient.

from app.client import AsyncAlertClient

async with AsyncAlertClient("http://alerts.internal:8000", api_key="...") as alerts:
    sent = await alerts.send_alert(alert_type="disk_full", severity="high", message="/var 91%")
    await alerts.resolve_alert(sent.id, resolved_by="alice")
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
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


class AsyncAlertClient:
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
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`base_url` and `api_key` default to ALERTS_URL and ALERTS_API_KEY."""
        self.base_url = defaults.base_url(base_url)
        self.source = source or defaults.source()
        self.actor = actor or defaults.actor()
        self.retry = transport.RetryPolicy(retries, backoff_seconds, max_backoff_seconds)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=transport.headers(defaults.api_key(api_key)),
            timeout=timeout,
            transport=http_transport,
        )

    async def __aenter__(self) -> AsyncAlertClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, call: calls.Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
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
                await self._sleep(self.retry.delay(attempt))
                continue
            if response.status_code in transport.RETRY_STATUSES and attempt <= self.retry.retries:
                await self._sleep(self.retry.delay(attempt, transport.retry_after(response)))
                continue
            if response.is_error:
                raise transport.error_for(response)
            return call.parse(response.text if call.text else response.json())

    # --- alerts ---------------------------------------------------------------

    async def send_alert(
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
        return await self._run(
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

    async def submit_many(self, alerts: Sequence[Mapping[str, Any]]) -> list[Submission]:
        """Submit alerts as one batch: one transaction, all or nothing, one
        Submission per alert in order (a repeat of an alert in the batch
        merges into the first). Each alert is a dict of POST /alerts fields;
        `source` defaults to the client's. At most the service's
        `max_batch_alerts` (1,000 unless configured)."""
        if not alerts:
            return []  # the service refuses an empty batch; there is nothing to send
        return await self._run(calls.submit_many(alerts, source=self.source))

    async def get_alert(self, alert_id: uuid.UUID | str) -> AlertDetail:
        return await self._run(calls.get_alert(alert_id))

    async def list_alerts(
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
        return await self._run(
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

    async def acknowledge(
        self, alert_id: uuid.UUID | str, *, by: str | None = None, note: str | None = None
    ) -> Alert:
        return await self._run(calls.acknowledge(alert_id, by=by or self.actor, note=note))

    async def resolve_alert(
        self, alert_id: uuid.UUID | str, *, resolved_by: str | None = None, notes: str | None = None
    ) -> Alert:
        return await self._run(calls.resolve(alert_id, resolved_by=resolved_by or self.actor, notes=notes))

    async def change_status(
        self, alert_id: uuid.UUID | str, status: str, *, by: str | None = None, note: str | None = None
    ) -> Alert:
        return await self._run(calls.change_status(alert_id, status=status, by=by or self.actor, note=note))

    # --- reporting and operations -----------------------------------------------

    async def get_statistics(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> Statistics:
        return await self._run(calls.statistics(since=since, until=until))

    async def check_escalations(self) -> EscalationTick:
        """Run one escalation tick now; answers the steps it took."""
        return await self._run(calls.escalation_tick())

    async def get_escalation_policy(self) -> EscalationPolicy:
        return await self._run(calls.escalation_policy())

    async def list_channels(self) -> list[Channel]:
        return await self._run(calls.channels())

    async def create_silence(
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
        return await self._run(calls.create_silence(body))

    async def list_silences(self, *, state: Sequence[str] | None = None) -> list[Silence]:
        return await self._run(calls.list_silences(state=state))

    async def expire_silence(self, silence_id: uuid.UUID | str) -> Silence:
        return await self._run(calls.expire_silence(silence_id))

    # --- heartbeats ---------------------------------------------------------------

    async def heartbeat(
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
        return await self._run(
            calls.heartbeat(
                name, timeout_seconds=timeout_seconds, severity=severity, labels=labels, message=message
            )
        )

    async def list_heartbeats(
        self, *, state: Sequence[str] | None = None, team: str | None = None
    ) -> list[Heartbeat]:
        return await self._run(calls.list_heartbeats(state=state, team=team))

    async def get_heartbeat(self, name: str, *, team: str | None = None) -> Heartbeat:
        return await self._run(calls.get_heartbeat(name, team=team))

    async def retire_heartbeat(self, name: str, *, team: str | None = None) -> Heartbeat:
        """Delete a heartbeat, resolving its open missed alert."""
        return await self._run(calls.retire_heartbeat(name, team=team))

    # --- on call -------------------------------------------------------------------

    async def list_schedules(self, *, team: str | None = None) -> list[Schedule]:
        return await self._run(calls.list_schedules(team=team))

    async def oncall(self, schedule_id: uuid.UUID | str, *, at: datetime | None = None) -> OnCall:
        """Who is on call on the schedule at `at` (default: now); `user` None: nobody."""
        return await self._run(calls.oncall(schedule_id, at=at))

    async def export_oncall(self, *, team: str | None = None) -> str:
        """The team's on-call configuration as a TOML document (a key of one team: its own)."""
        return await self._run(calls.export_oncall(team=team))

    async def import_oncall(self, document: str | bytes, *, dry_run: bool = False) -> OncallImport:
        """Replace the document's team's on-call configuration with it; with
        `dry_run`, only answer what would change."""
        return await self._run(calls.import_oncall(document, dry_run=dry_run))

    # --- routing --------------------------------------------------------------------

    async def list_users(self, *, team: str | None = None) -> list[User]:
        """The key's team's users, by name (`team`: one team's, for keys of every team)."""
        return await self._run(calls.list_users(team=team))

    async def create_user(self, body: Mapping[str, Any]) -> User:
        """A user from the fields of POST /users."""
        return await self._run(calls.create_user(body))

    async def delete_user(self, user_id: uuid.UUID | str) -> User:
        return await self._run(calls.delete_user(user_id))

    async def create_schedule(self, body: Mapping[str, Any]) -> Schedule:
        """A schedule with its layers, from the fields of POST /schedules."""
        return await self._run(calls.create_schedule(body))

    async def delete_schedule(self, schedule_id: uuid.UUID | str) -> Schedule:
        return await self._run(calls.delete_schedule(schedule_id))

    async def list_overrides(
        self, schedule_id: uuid.UUID | str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[Override]:
        """The schedule's overrides overlapping `start`-`end` (default: from now, 90 days)."""
        return await self._run(calls.list_overrides(schedule_id, start=start, end=end))

    async def add_override(self, schedule_id: uuid.UUID | str, body: Mapping[str, Any]) -> Override:
        """`user_id` covers the schedule from `start` to `end` (the fields of POST .../overrides)."""
        return await self._run(calls.add_override(schedule_id, body))

    async def delete_override(self, schedule_id: uuid.UUID | str, override_id: uuid.UUID | str) -> Override:
        return await self._run(calls.delete_override(schedule_id, override_id))

    async def list_policies(self, *, team: str | None = None) -> list[TeamPolicy]:
        """The key's team's escalation policies (`team`: one team's, for keys of every team)."""
        return await self._run(calls.list_policies(team=team))

    async def create_policy(self, body: Mapping[str, Any]) -> TeamPolicy:
        """A policy from the fields of POST /escalation-policies."""
        return await self._run(calls.create_policy(body))

    async def delete_policy(self, policy_id: uuid.UUID | str) -> TeamPolicy:
        return await self._run(calls.delete_policy(policy_id))

    async def list_routes(self, *, team: str | None = None) -> list[Route]:
        """The key's team's routes, in the order they are tried."""
        return await self._run(calls.list_routes(team=team))

    async def create_route(self, body: Mapping[str, Any]) -> Route:
        """A route from the fields of POST /routes."""
        return await self._run(calls.create_route(body))

    async def delete_route(self, route_id: uuid.UUID | str) -> Route:
        return await self._run(calls.delete_route(route_id))

    async def test_routes(self, body: Mapping[str, Any]) -> RouteTestResult:
        """Which routes an example alert would take (POST /routes/test); nothing is created."""
        return await self._run(calls.test_routes(body))

    async def ready(self) -> bool:
        """True when the service answers and its database is reachable."""
        try:
            return (await self._run(calls.ready())).get("status") == "ready"
        except AlertServiceError:
            return False
