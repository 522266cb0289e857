"""Flood control at work in a service process, for the tests of what shows
its figures (the console's channels page, `alerts channels`).

Two channels besides the default: `burst` (console, one notification a
minute: the rest of a burst is folded into a digest) and `hooks` (a webhook
whose receiver, a real HTTP server on 127.0.0.1, answers 429 with a
Retry-After: the provider's pause). `make_flood` sends the alerts and
waits until GET /channels answers both.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

BURST = 4


def flood_channels(receiver_url: str) -> str:
    """The TOML of the two channels (append it to a service's config)."""
    return (
        '[channels.burst]\ntype = "console"\nmax_per_minute = 1\n\n'
        f'[channels.hooks]\ntype = "webhook"\nurl = "{receiver_url}"\n\n'
    )


def make_flood(api: httpx.Client, *, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
    """A burst to `burst` and one alert to `hooks`; GET /channels by name,
    once `burst` has folded notifications and `hooks` is paused."""
    # One batch, one transaction: the delivery worker claims the burst at
    # once and folds all but one in that claim, so the figures, once there,
    # do not move while the test reads them.
    answer = api.post(
        "/alerts",
        json=[{"alert_type": "queue_backlog", "severity": "high", "message": f"backlog {n}",
               "source": f"worker-{n}", "channels": ["burst"]} for n in range(BURST)],
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    answer = api.post(
        "/alerts",
        json={"alert_type": "http_5xx", "severity": "critical", "message": "5xx", "source": "edge-1",
              "channels": ["hooks"]},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    deadline = time.monotonic() + timeout
    while True:
        figures = {c["name"]: c for c in api.get("/channels").json()}
        if figures["burst"]["folded"] and figures["hooks"]["paused_until"]:
            assert figures["burst"]["folded"] == BURST - 1, figures["burst"]
            return figures
        assert time.monotonic() < deadline, figures
        time.sleep(0.2)
