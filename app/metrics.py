"""Prometheus metrics.

Counters and histograms live in the process (prometheus-client). With several
uvicorn workers, set PROMETHEUS_MULTIPROC_DIR to an empty directory before
start: every worker then writes its samples there and any worker's /metrics
answers the sum (prometheus-client's multiprocess mode). Gauges are not kept
in the process at all: active alerts and the outbox backlog are read from
the database at scrape time, so they are right whichever worker answers and
however many there are.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ACTIVE_STATUSES, Alert, OutboxRow
from app.services.escalation import Step

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MINUTES = (60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200)

SUBMISSIONS = Counter("alerts_submissions", "Alert submissions by outcome", ["outcome"])
NOTIFICATIONS = Counter(
    "alerts_notifications",
    "Delivery attempts by channel and result (sent, retry, failed)",
    ["channel", "result"],
)
ESCALATIONS = Counter("alerts_escalations", "Escalation steps by level and kind", ["level", "kind"])
REQUEST_SECONDS = Histogram(
    "alerts_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"]
)
DELIVERY_SECONDS = Histogram("alerts_delivery_duration_seconds", "Delivery attempt latency", ["channel"])
ACK_SECONDS = Histogram(
    "alerts_time_to_acknowledge_seconds", "From trigger to acknowledgement", buckets=_MINUTES
)
RESOLVE_SECONDS = Histogram("alerts_time_to_resolve_seconds", "From trigger to resolution", buckets=_MINUTES)
INGEST_BATCH = Histogram(
    "alerts_ingest_batch_size",
    "Submissions written together (group commit: one statement on PostgreSQL, one transaction on SQLite)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 200),
)


def count_steps(steps: list[Step]) -> None:
    for step in steps:
        ESCALATIONS.labels(str(step.to_level), step.kind).inc()


def observe_move(alert: Alert, *, now: datetime) -> None:
    """Time to acknowledge when this move acknowledged the alert, time to
    resolve when it resolved it."""
    if alert.acknowledged_at == now and alert.status in ("acknowledged", "in_progress"):
        ACK_SECONDS.observe((alert.acknowledged_at - alert.triggered_at).total_seconds())
    if alert.status == "resolved" and alert.resolution_minutes is not None:
        RESOLVE_SECONDS.observe(alert.resolution_minutes * 60)


class _Values(Collector):
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families


async def database_gauges(session: AsyncSession) -> list[GaugeMetricFamily]:
    active = GaugeMetricFamily("alerts_active", "Active alerts by severity", labels=["severity"])
    for severity, count in await session.execute(
        select(Alert.severity, func.count()).where(Alert.status.in_(ACTIVE_STATUSES)).group_by(Alert.severity)
    ):
        active.add_metric([severity], count)
    backlog = GaugeMetricFamily(
        "alerts_outbox_backlog", "Notifications waiting or in flight", labels=["channel", "status"]
    )
    for channel, status, count in await session.execute(
        select(OutboxRow.channel, OutboxRow.status, func.count())
        .where(OutboxRow.status.in_(("pending", "sending")))
        .group_by(OutboxRow.channel, OutboxRow.status)
    ):
        backlog.add_metric([channel, status], count)
    return [active, backlog]


def render(gauges: list[GaugeMetricFamily]) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        process = generate_latest(registry)
    else:
        process = generate_latest(REGISTRY)
    scrape = CollectorRegistry()
    scrape.register(_Values(gauges))
    return process + generate_latest(scrape)


def observe_request(method: str, template: str, status: int, started: float) -> None:
    """One HTTP request's time, from `started` (time.perf_counter())."""
    REQUEST_SECONDS.labels(method, template, str(status)).observe(time.perf_counter() - started)
