"""Typed results. The service's own read models, so client and server agree;
they ignore fields they do not know, so an older client reads a newer server."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.schemas import (
    AlertDetail,
    AlertPage,
    AlertRead,
    AlertSubmitted,
    ChannelRead,
    EscalationPolicyRead,
    EscalationTickRead,
    SilenceRead,
)

Alert = AlertRead
Submission = AlertSubmitted
Channel = ChannelRead
EscalationPolicy = EscalationPolicyRead
EscalationTick = EscalationTickRead
Silence = SilenceRead


class Statistics(BaseModel):
    """GET /stats. The figures named in the product design are typed; any
    other figure the server reports is kept too (`as_dict()`)."""

    model_config = ConfigDict(extra="allow")

    total: int | None = None
    active: int | None = None
    resolved: int | None = None
    mean_resolution_minutes: float | None = None
    median_resolution_minutes: float | None = None
    by_severity: dict[str, int] | None = None
    by_type: dict[str, int] | None = None
    by_status: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


__all__ = [
    "Alert",
    "AlertDetail",
    "AlertPage",
    "Channel",
    "EscalationPolicy",
    "EscalationTick",
    "Silence",
    "Statistics",
    "Submission",
]
