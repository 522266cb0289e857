"""The rules as data: what a store needs to write a submission.

A store (db/store.py) decides nothing. Before it reads the stored alert,
this module has answered every question the rules can be asked: for each
state a stored alert can be in, what a duplicate does (services/dedup.py)
and when a raised alert escalates next (services/escalation.py); for the
submission itself, its identity, its channels, and the escalation schedule
of an alert it creates or reopens, and the policy and channels its route
gives it (services/oncall/routing.py, from memory). Both stores read the
same answers, so they cannot drift apart.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from app.db.store import LEVELS, Decisions, DuplicateOutcome, IngestPlan, next_escalation_at
from app.errors import InvalidInput
from app.models import ACTIVE_STATUSES
from app.schemas import AlertCreate
from app.services.dedup import decide_duplicate, fingerprint, streak_limit
from app.services.escalation import due_offsets
from app.services.oncall import routing
from app.settings import SEVERITIES, Settings

# settings -> its decisions; holding the settings keeps its id from being reused.
_DECISIONS: dict[int, tuple[Settings, Decisions]] = {}


def decisions(settings: Settings) -> Decisions:
    cached = _DECISIONS.get(id(settings))
    if cached is None or cached[0] is not settings:
        cached = _DECISIONS[id(settings)] = (settings, _decide(settings))
    return cached[1]


def _decide(settings: Settings) -> Decisions:
    duplicate: list[DuplicateOutcome] = []
    for incoming in SEVERITIES:
        for current in SEVERITIES:
            for window_passed in (False, True):
                for threshold_reached in (False, True):
                    decided = decide_duplicate(
                        current_severity=current,
                        incoming_severity=incoming,
                        window_passed=window_passed,
                        threshold_reached=threshold_reached,
                    )
                    severity = incoming if decided.raise_severity else current
                    duplicate.append(DuplicateOutcome(decided.reason, severity, decided.raise_severity))
    reschedule = [
        due_offsets(settings.escalation, status=status, severity=severity, level=level)
        for severity in SEVERITIES
        for status in ACTIVE_STATUSES
        for level in range(1, LEVELS + 1)
    ]
    made = Decisions(
        severities=tuple(SEVERITIES),
        statuses=ACTIVE_STATUSES,
        duplicate=tuple(duplicate),
        reschedule=tuple(reschedule),
        streak_limit=streak_limit(settings.suppression_threshold),
        window=timedelta(minutes=settings.dedup_window_minutes),
        policy=settings.escalation.name,
    )
    made.raise_reasons()  # checks that a reason says raise or not, at start-up
    return made


def channels_for(
    requested: list[str] | None, settings: Settings, *, routed: tuple[str, ...] = ()
) -> list[str]:
    """The alert's channels: the requested ones, each once; when none are
    named (omitted or empty), those of the routes it matched, else the
    defaults. An unknown name is refused."""
    for i, name in enumerate(requested or ()):
        if name not in settings.channels:
            known = ", ".join(sorted(settings.channels))
            raise InvalidInput(f"unknown channel {name!r}; configured: {known}", field=f"channels.{i}")
    return list(dict.fromkeys(requested or routed or settings.default_channels))


def plan(data: AlertCreate, *, team: str, settings: Settings, now: datetime) -> IngestPlan:
    # Routed in memory (services/oncall/routing.py): no database round trip.
    routed = routing.current(settings).route(
        team=team, alert_type=data.alert_type, source=data.source, severity=data.severity, labels=data.labels
    )
    # Every name is configured: channels_for refuses others, the routing
    # table leaves out those no longer configured, and the defaults were
    # checked at start-up.
    channels = channels_for(data.channels, settings, routed=() if routed is None else routed.channels)
    decided = decisions(settings)
    policy = None if routed is None else routed.policy
    if policy is not None:
        # A policy's first step is due its after_minutes after the alert triggered.
        next_at: datetime | None = now + timedelta(minutes=policy.first_after_minutes)
    else:
        # A created or reopened alert starts at level 1 with a fresh clock.
        next_at = next_escalation_at(
            decided.reschedule[decided.reschedule_index(data.severity, "open", 1)],
            triggered_at=now,
            escalated_at=None,
        )
    return IngestPlan(
        id=uuid.uuid4(),
        team=team,
        fingerprint=fingerprint(
            alert_type=data.alert_type, source=data.source, labels=data.labels, dedup_key=data.dedup_key
        ),
        now=now,
        alert_type=data.alert_type,
        severity=data.severity,
        message=data.message,
        source=data.source,
        labels=data.labels,
        details=data.details,
        channels=channels,
        notify=tuple(channels) if settings.enabled else (),
        deduplicate=settings.enable_deduplication,
        next_escalation_at=next_at,
        decisions=decided,
        escalation_policy_id=None if policy is None else policy.id,
    )
