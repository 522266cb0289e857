"""Deduplication rules as pure functions: identity and the notify decision."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.settings import SEVERITIES

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def fingerprint(*, alert_type: str, source: str, labels: dict[str, str], dedup_key: str | None = None) -> str:
    """SHA-256 hex of the canonical JSON of the identity; dedup_key replaces it.

    Message and severity are not identity: "CPU 91%" and "CPU 93%" are one alert.
    """
    if dedup_key is not None:
        return dedup_key
    canonical = json.dumps(
        {"alert_type": alert_type, "source": source, "labels": labels},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class DuplicateDecision:
    reason: str | None  # "severity", "window", "repeated", or None when suppressed
    raise_severity: bool
    suppressed: bool
    streak: int  # suppressed duplicates since the last notification, after this one


def decide_duplicate(
    *,
    current_severity: str,
    incoming_severity: str,
    last_seen_at: datetime,
    streak: int,
    now: datetime,
    window: timedelta,
    threshold: int,
) -> DuplicateDecision:
    """What a duplicate of an active alert does.

    A higher severity notifies (and raises the alert); so does a duplicate
    arriving after the window. Otherwise it is suppressed, except that every
    threshold-th one in a row notifies instead ("repeated") and the streak
    restarts. Any notification restarts the streak.
    """
    if SEVERITY_RANK[incoming_severity] > SEVERITY_RANK[current_severity]:
        return DuplicateDecision("severity", True, False, 0)
    if now - last_seen_at >= window:
        return DuplicateDecision("window", False, False, 0)
    if streak + 1 >= threshold:
        return DuplicateDecision("repeated", False, False, 0)
    return DuplicateDecision(None, False, True, streak + 1)
