"""Request and response models of heartbeats (dead man's switches)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas import MAX_LABELS, IncomingSeverity, LabelKey, LabelValue, Note
from app.settings import Severity

# Like a channel or key name: letters, digits and . _ - :, so that a name is
# one path segment and reads the same in a URL, a crontab and a log line.
HEARTBEAT_NAME_PATTERN = r"^[A-Za-z0-9._:-]+$"
MIN_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0
DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_SEVERITY: Severity = "high"

HeartbeatState = Literal["up", "late"]


class HeartbeatBeat(BaseModel):
    """The optional body of a beat. A field given replaces the stored one; a
    field left out keeps it (the defaults apply to the first beat only)."""

    model_config = ConfigDict(extra="forbid")

    timeout_seconds: float | None = Field(
        default=None,
        ge=MIN_TIMEOUT_SECONDS,
        le=MAX_TIMEOUT_SECONDS,
        allow_inf_nan=False,
        description="Seconds without a beat before it is late: 10 to 604800 (7 days); 300 at first.",
        examples=[3900],
    )
    severity: IncomingSeverity | None = Field(
        default=None, description="The missed alert's severity (aliases accepted); high at first."
    )
    labels: dict[LabelKey, LabelValue] | None = Field(
        default=None,
        max_length=MAX_LABELS,
        description="The missed alert's labels.",
        examples=[{"env": "prod"}],
    )
    message: Annotated[Note, StringConstraints(min_length=1)] | None = Field(
        default=None,
        description='The missed alert\'s message; "no heartbeat from <name> for <timeout>" when unset.',
    )


class HeartbeatRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    team: str
    state: HeartbeatState = Field(
        description="up, or late: no beat within timeout_seconds (a missed alert is open or about to be)."
    )
    last_beat_at: datetime
    due_at: datetime = Field(description="When it turns late without another beat.")
    timeout_seconds: float
    severity: Severity
    labels: dict[str, str]
    message: str | None
    alert_id: uuid.UUID | None = Field(description="The open heartbeat_missed alert, if any.")
    created_at: datetime
