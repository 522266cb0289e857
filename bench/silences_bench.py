"""POST /alerts and GET /alerts?limit=50 with the most silences in force.

Puts `silence_max_in_force` silences of `silence_max_matchers` matchers each
in force (the defaults: 1,000 x 32), in the shape that costs matching most:
every matcher a regular expression (so no silence can be set aside by an
equality look-up), 31 of them passed by every alert and the last one only
by the alerts of the silence's own host, so each alert is tested deep into
every silence and is held by one.
Then, against uvicorn with N workers, one client at a time: POST /alerts of
new identities (each one matched afresh) and GET /alerts?limit=50, before
the silences (the baseline) and with them; p50, p99 and the slowest of each.
The first request a worker serves after the silences were made reads and
compiles all of them (the slowest POST, once per worker); every later one
finds them compiled.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from app.settings import Settings
from bench.common import fresh_database, write_result
from bench.service import running_service

POSTS = 300
GETS = 100
LABELS = 31


def _silence(i: int, matchers: int) -> dict[str, Any]:
    passed = [
        {"name": f"labels.k{j}", "value": f"[a-z0-9-]*|never-{i}-{j}", "is_regex": True}
        for j in range(min(LABELS, matchers - 1))
    ]
    return {
        "matchers": [*passed, {"name": "labels.host", "value": f"host-{i}(-[0-9]+)?", "is_regex": True}],
        "duration_minutes": 600,
        "created_by": "bench",
        "comment": "bench",
    }


def _alert(n: int) -> dict[str, Any]:
    labels = {f"k{j}": f"value-{j}-{n % 97}" for j in range(LABELS)}
    return {
        "alert_type": "bench",
        "severity": "low",
        "message": "bench",
        "source": f"src-{n}",
        "labels": {**labels, "host": f"host-{n}-{n}"},
    }


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def _timed(client: httpx.Client, method: str, path: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    response = client.request(method, path, **kwargs)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def _measure(client: httpx.Client, first: int) -> dict[str, dict[str, float]]:
    posts = [_timed(client, "POST", "/alerts", json=_alert(n)) for n in range(first, first + POSTS)]
    gets = [_timed(client, "GET", "/alerts", params={"limit": 50}) for _ in range(GETS)]
    return {"post_alerts": _percentiles(posts), "get_alerts_50": _percentiles(gets)}


def main(url: str, workers: int) -> dict[str, Any]:
    fresh_database(url)
    defaults = Settings.model_fields
    silences = int(defaults["silence_max_in_force"].default)
    matchers = int(defaults["silence_max_matchers"].default)
    with (
        running_service(url, workers=workers) as service,
        httpx.Client(base_url=service.url, timeout=120) as client,
    ):
        baseline = _measure(client, 0)
        started = time.perf_counter()
        for i in range(silences):
            client.post("/silences", json=_silence(i, matchers)).raise_for_status()
        created_s = time.perf_counter() - started
        refused = client.post("/silences", json=_silence(silences, matchers)).status_code
        loaded = _measure(client, POSTS)
    results = {
        "silences": silences,
        "matchers_per_silence": matchers,
        "workers": workers,
        "created_in_s": round(created_s, 1),
        "one_more_refused_with": refused,
        "without_silences": baseline,
        "with_silences": loaded,
    }
    for name, figures in (("none", baseline), (f"{silences}x{matchers}", loaded)):
        post, get = figures["post_alerts"], figures["get_alerts_50"]
        print(
            f"silences {name:<8} POST /alerts p50 {post['p50_ms']:7.2f} ms  p99 {post['p99_ms']:7.2f} ms  "
            f"max {post['max_ms']:7.1f} ms   GET /alerts?limit=50 p50 {get['p50_ms']:7.2f} ms  "
            f"p99 {get['p99_ms']:7.2f} ms"
        )
    print(f"silences {silences:,} created in {created_s:.1f} s; one more answered {refused}")
    write_result("silences", results)
    return results
