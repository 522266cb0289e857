"""Typed results. The service's own read models, so client and server agree;
they ignore fields they do not know, so an older client reads a newer server."""

from __future__ import annotations

from typing import Any

from app.heartbeat_schemas import HeartbeatRead
from app.oncall_document import OncallImportRead
from app.oncall_schemas import OnCallRead, OverrideRead, ScheduleRead, UserRead
from app.routing_schemas import PolicyRead, RouteRead, RouteTestRead
from app.schemas import (
    AlertDetail,
    AlertPage,
    AlertRead,
    AlertSubmitted,
    ChannelRead,
    EscalationPolicyRead,
    EscalationTickRead,
    SilenceRead,
    StatsRead,
)

Alert = AlertRead
Submission = AlertSubmitted
Channel = ChannelRead
EscalationPolicy = EscalationPolicyRead
EscalationTick = EscalationTickRead
Silence = SilenceRead
Heartbeat = HeartbeatRead
Schedule = ScheduleRead
OnCall = OnCallRead
OncallImport = OncallImportRead
User = UserRead
Override = OverrideRead
# A team's escalation policy (the configured one is EscalationPolicy).
TeamPolicy = PolicyRead
Route = RouteRead
RouteTestResult = RouteTestRead


class Statistics(StatsRead):
    """GET /stats: the server's own read model (totals under `alerts`,
    resolution times under `resolution`, ...), so client and server cannot
    drift apart; `total`, `active` and `resolved` are short cuts."""

    @property
    def total(self) -> int:
        return self.alerts.total

    @property
    def active(self) -> int:
        return self.alerts.active

    @property
    def resolved(self) -> int:
        return self.alerts.resolved

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


__all__ = [
    "Alert",
    "AlertDetail",
    "AlertPage",
    "Channel",
    "EscalationPolicy",
    "EscalationTick",
    "Heartbeat",
    "OnCall",
    "OncallImport",
    "Override",
    "Route",
    "RouteTestResult",
    "Schedule",
    "Silence",
    "Statistics",
    "Submission",
    "TeamPolicy",
    "User",
]
