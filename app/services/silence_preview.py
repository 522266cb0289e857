"""What a silence would hold if it were in force now: the active alerts its
matchers match, for the console's preview while the silence is being written.

The matchers are compiled and applied exactly as for a silence in force
(services/silence_index.py): the same fields, the same RE2 patterns, the
same team rule. The database only narrows the scan with the equality
matchers it can serve (type, source, severity, labels); the verdict is the
index's. At most `scan` active alerts are read, so a broad pattern over a
large backlog answers quickly, with a count marked as a lower bound.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ACTIVE_STATUSES, Alert
from app.schemas import SilenceMatcher
from app.services import queries
from app.services.silence_index import alert_fields, compile_matchers

PAGE = 500


@dataclass(frozen=True, slots=True)
class Preview:
    alerts: list[Alert]  # the first `show` matched, newest first
    count: int
    at_least: bool  # the scan stopped early: `count` is a lower bound


def _narrowed(matchers: Sequence[SilenceMatcher], team: str | None) -> queries.AlertFilter:
    """The active alerts that could match: only the equality matchers on a
    non-empty value narrow (an empty one also matches a missing label)."""
    equal: dict[str, str] = {}
    labels: dict[str, str] = {}
    for matcher in matchers:
        if matcher.is_regex or not matcher.value:
            continue
        if matcher.name.startswith("labels."):
            labels.setdefault(matcher.name.removeprefix("labels."), matcher.value)
        else:
            equal.setdefault(matcher.name, matcher.value)
    return queries.AlertFilter(
        team=team,
        status=list(ACTIVE_STATUSES),
        alert_type=equal.get("alert_type"),
        source=equal.get("source"),
        severity=[equal["severity"]] if "severity" in equal else None,
        labels=labels or None,
    )


async def would_hold(
    session: AsyncSession,
    *,
    matchers: Sequence[SilenceMatcher],
    team: str | None,
    show: int = 10,
    scan: int = 2000,
) -> Preview:
    """`team`: the silence's team (Caller.silence_team), None for every
    team's. The matchers must have passed silence_limits.check_matchers."""
    compiled = compile_matchers(uuid.uuid4(), [m.model_dump() for m in matchers], team)
    if compiled is None:  # a pattern RE2 refuses: such a silence holds nothing
        return Preview([], 0, False)
    filters = _narrowed(matchers, team)
    found: list[Alert] = []
    count = read = 0
    cursor: str | None = None
    while read < scan:
        rows, cursor = await queries.list_alerts(
            session, filters=filters, limit=min(PAGE, scan - read), cursor=cursor
        )
        read += len(rows)
        for alert in rows:
            fields = alert_fields(alert)
            encoded = {name: value.encode() for name, value in fields.items()}
            if all(matcher.matches(fields, encoded) for matcher in compiled):
                count += 1
                if len(found) < show:
                    found.append(alert)
        if cursor is None:
            return Preview(found, count, False)
    return Preview(found, count, True)
