"""`alerts follow`: new alerts as they arrive, one line each, until
interrupted (or until `--count` alerts have been shown).

It polls GET /alerts for alerts first seen since the newest one shown. The
mark is the service's own `first_seen_at`, so the two machines' clocks never
meet; and every poll looks `OVERLAP` further back, remembering the ids it
showed there, because an alert stamped just before the mark may commit just
after the poll (two replicas, or a slow transaction): it is shown once, late,
rather than never.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.cli.output import cell
from app.client import AlertClient
from app.client.models import Alert

OVERLAP = timedelta(seconds=30)
PAGE = 500


@dataclass
class Mark:
    """The newest first_seen_at shown, and what was shown within OVERLAP of it."""

    at: datetime | None = None
    shown: dict[uuid.UUID, datetime] = field(default_factory=dict)

    def since(self) -> datetime | None:
        return None if self.at is None else self.at - OVERLAP

    def take(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts not shown yet, oldest first; they count as shown."""
        new = sorted(
            (a for a in alerts if a.id not in self.shown), key=lambda a: (a.first_seen_at, str(a.id))
        )
        for alert in new:
            self.shown[alert.id] = alert.first_seen_at
            if self.at is None or alert.first_seen_at > self.at:
                self.at = alert.first_seen_at
        if self.at is not None:
            horizon = self.at - OVERLAP
            self.shown = {i: at for i, at in self.shown.items() if at >= horizon}
        return new


def _filters(args: argparse.Namespace, labels: dict[str, str] | None) -> dict[str, Any]:
    return {
        "status": args.status,
        "severity": args.severity,
        "alert_type": args.alert_type,
        "source": args.source,
        "labels": labels,
        "text": args.search,
        "team": args.team,
    }


def _fetch(client: AlertClient, filters: dict[str, Any], since: datetime | None) -> list[Alert]:
    found: list[Alert] = []
    cursor = None
    while True:
        page = client.list_alerts(since=since, limit=PAGE, cursor=cursor, **filters)
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def line(alert: Alert) -> str:
    return "  ".join(
        (
            cell(alert.first_seen_at),
            alert.severity.ljust(8),
            alert.status.ljust(12),
            cell(alert.alert_type, 30),
            cell(alert.source, 30),
            cell(alert.message, 80),
            str(alert.id),
        )
    )


def follow(
    client: AlertClient,
    args: argparse.Namespace,
    *,
    labels: dict[str, str] | None,
    since: datetime | None,
    write: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write each new alert; `since` also shows those first seen since then."""
    filters = _filters(args, labels)
    mark = Mark()
    if since is None:  # from now on: what exists already counts as shown
        newest = client.list_alerts(limit=1, **filters).items
        if newest:
            mark.take(newest)
            mark.take(_fetch(client, filters, mark.since()))
        found: list[Alert] = []
    else:
        found = mark.take(_fetch(client, filters, since))
    left = args.count
    while True:
        for alert in found:
            write(json.dumps(alert.model_dump(mode="json"), sort_keys=True) if args.json else line(alert))
            if left is not None:
                left -= 1
                if left <= 0:
                    return
        sleep(args.interval)
        found = mark.take(_fetch(client, filters, mark.since()))
