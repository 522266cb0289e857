"""The heartbeat rules that need no database: durations and the late state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.models import Heartbeat
from app.services.heartbeats import duration_text, state


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m"), (3900, "1h 5m"), (45, "45s"), (90_061, "1d 1h 1m 1s"), (604_800, "7d"), (0.4, "0s")],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_late_once_due_even_before_the_check_has_run() -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    heartbeat = Heartbeat(state="up", due_at=now)
    assert state(heartbeat, now=now) == "up"  # exactly on time is on time
    assert state(heartbeat, now=now + timedelta(microseconds=1)) == "late"
    heartbeat.state = "late"  # the check marked it; the stored state wins
    assert state(heartbeat, now=now - timedelta(hours=1)) == "late"
