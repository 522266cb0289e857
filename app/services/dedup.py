"""Deduplication rules as pure functions: identity and the notify decision."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import orjson

from app.settings import SEVERITIES

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def fingerprint(*, alert_type: str, source: str, labels: dict[str, str], dedup_key: str | None = None) -> str:
    """SHA-256 hex of the canonical JSON of the identity; dedup_key replaces it.

    Message and severity are not identity: "CPU 91%" and "CPU 93%" are one alert.
    """
    if dedup_key is not None:
        return dedup_key
    return hashlib.sha256(canonical(alert_type=alert_type, source=source, labels=labels)).hexdigest()


def canonical(*, alert_type: str, source: str, labels: dict[str, str]) -> bytes:
    """The identity as compact JSON with sorted keys, in UTF-8: the bytes of
    `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)`,
    which fingerprints have always hashed, written by orjson (a third of the
    time; tests/services/test_fingerprint.py holds the two equal for every
    character). A string orjson refuses (a lone surrogate) takes the json
    module's path, and so fails or succeeds as it always did."""
    identity = {"alert_type": alert_type, "source": source, "labels": labels}
    try:
        return orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class DuplicateDecision:
    reason: str | None  # "severity", "window", "repeated", or None when suppressed
    raise_severity: bool


def streak_limit(threshold: int) -> int:
    """The suppressed streak at which the next duplicate notifies
    ("repeated"): every threshold-th suppressed duplicate in a row."""
    return max(threshold - 1, 0)


def decide_duplicate(
    *, current_severity: str, incoming_severity: str, window_passed: bool, threshold_reached: bool
) -> DuplicateDecision:
    """What a duplicate of an active alert does.

    A higher severity notifies (and raises the alert); so does a duplicate
    arriving a whole window after the alert was last seen. Otherwise it is
    suppressed, except that every threshold-th one in a row notifies instead
    ("repeated"). Any notification restarts the streak.
    """
    if SEVERITY_RANK[incoming_severity] > SEVERITY_RANK[current_severity]:
        return DuplicateDecision("severity", True)
    if window_passed:
        return DuplicateDecision("window", False)
    if threshold_reached:
        return DuplicateDecision("repeated", False)
    return DuplicateDecision(None, False)
