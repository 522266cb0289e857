"""A Python client for the alert service, blocking and asyncio.

    from app.client import AlertClient

    client = AlertClient("http://127.0.0.1:8000", api_key="...")
    sent = client.send_alert(alert_type="disk_full", severity="high", message="/var is 91% full")
    client.resolve_alert(sent.id, resolved_by="alice", notes="rotated logs")

Results are typed (pydantic models); failures raise AlertServiceError
subclasses (NotFound, Conflict, ValidationFailed, ServiceUnavailable,
ConnectionFailed, ...). Connection failures and 503 answers are retried with
exponential backoff.
"""

from app.client.aio import AsyncAlertClient
from app.client.errors import (
    AlertServiceError,
    BadRequest,
    ClientError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from app.client.models import (
    Alert,
    AlertDetail,
    AlertPage,
    Channel,
    EscalationPolicy,
    EscalationTick,
    Heartbeat,
    Silence,
    Statistics,
    Submission,
)
from app.client.sync import AlertClient

__all__ = [
    "Alert",
    "AlertClient",
    "AlertDetail",
    "AlertPage",
    "AlertServiceError",
    "AsyncAlertClient",
    "BadRequest",
    "Channel",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "EscalationPolicy",
    "EscalationTick",
    "Forbidden",
    "Heartbeat",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "Silence",
    "Statistics",
    "Submission",
    "Unauthorized",
    "ValidationFailed",
]
