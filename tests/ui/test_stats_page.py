"""The stats page in a real browser against a real server: every chart is
drawn, nothing comes from another host, and the docs get a picture of a
busy day (docs/images/console-stats.png)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from app.db.engine import create_engine, create_sessionmaker
from app.models import Alert, AlertEvent, OutboxRow
from tests.ui.conftest import Console, SignedIn, foreign_requests, screenshot, wait_for
from tests.ui.test_stats_figures import CHARTS

TYPES = {
    "disk_full": 9, "http_5xx": 7, "cpu_high": 6, "queue_backlog": 5, "cert_expiry": 3, "db_replica_lag": 3,
    "memory_pressure": 3, "latency_p99": 2, "card_declines": 2, "dns_failure": 1, "backup_failed": 1,
    "pod_crashloop": 2,
}  # fmt: skip
SEVERITY_WEIGHTS = {"info": 30, "low": 25, "medium": 20, "high": 15, "critical": 10}
# name: (median latency in ms, share that fails for good)
CHANNELS = {"console": (1.5, 0.0), "slack-oncall": (240.0, 0.02), "pagerduty": (520.0, 0.06)}


def _busy_day(now: datetime) -> tuple[list[Alert], list[AlertEvent], list[OutboxRow]]:
    """A day of alerts, made up but plausible: more in working hours, an
    incident in the afternoon, some noisy sources, escalations of what
    nobody acknowledged, three channels of which two fail now and then."""
    rng = random.Random(7)
    sources = [f"{kind}-{n}" for kind in ("web", "db", "worker", "edge") for n in range(1, 7)]
    alerts: list[Alert] = []
    events: list[AlertEvent] = []
    sent: list[OutboxRow] = []
    for minute in range(30, 24 * 60, 4):  # within the 24 h window, however it is aligned
        at = now - timedelta(minutes=24 * 60 - minute)
        rate = 0.6 + 0.8 * (9 <= at.hour < 18) + (2.5 if 14 * 60 <= minute < 15 * 60 else 0.0)
        for _ in range(int(rate) + (rng.random() < rate % 1)):
            severity = rng.choices(list(SEVERITY_WEIGHTS), weights=list(SEVERITY_WEIGHTS.values()))[0]
            occurrences = 1 + int(rng.expovariate(0.4))
            acked = rng.random() < 0.85
            ack = rng.lognormvariate(2.0, 0.7) if acked else None
            resolve = (ack or 0) + rng.lognormvariate(3.6, 0.8) if acked and rng.random() < 0.8 else None
            alert = Alert(
                id=uuid.uuid4(), team=rng.choice(["default", "payments"]), fingerprint=uuid.uuid4().hex,
                alert_type=rng.choices(list(TYPES), weights=list(TYPES.values()))[0], severity=severity,
                message="made up for the picture", source=rng.choice(sources[: rng.choice([6, 24])]),
                labels={}, details={}, channels=["console"],
                status="resolved" if resolve else "acknowledged" if acked else "open",
                escalation_level=1, max_escalation_level=1, occurrences=occurrences,
                suppressed_count=max(0, occurrences - 1 - occurrences // 10), suppressed_streak=0,
                notifications_sent=1, first_seen_at=at, last_seen_at=at + timedelta(minutes=occurrences),
                triggered_at=at, acknowledge_minutes=ack, resolution_minutes=resolve, policy="default",
                acknowledged_at=None if ack is None else at + timedelta(minutes=ack),
                resolved_at=None if resolve is None else at + timedelta(minutes=resolve),
            )  # fmt: skip
            alerts.append(alert)
            waited = ack if ack is not None else 24 * 60.0
            for level, after in ((2, 30), (3, 60), (4, 120)):
                if (
                    severity in ("high", "critical")
                    and waited > after
                    and at + timedelta(minutes=after) < now
                ):
                    alert.escalation_level = alert.max_escalation_level = level
                    data = {"from_level": level - 1, "to_level": level, "policy": "default"}
                    events.append(
                        AlertEvent(
                            alert_id=alert.id, at=at + timedelta(minutes=after), kind="escalation", data=data
                        )
                    )
            for channel, (median, failing) in CHANNELS.items():
                if channel == "pagerduty" and severity not in ("high", "critical"):
                    continue
                failed = rng.random() < failing
                sent.append(
                    OutboxRow(
                        id=uuid.uuid4(), alert_id=alert.id, channel=channel, reason="new", level=1,
                        status="failed" if failed else "sent", attempts=5 if failed else 1, created_at=at,
                        next_attempt_at=at, sent_at=None if failed else at,
                        duration_ms=None if failed else median * rng.lognormvariate(0, 0.45),
                    )
                )  # fmt: skip
    return alerts, events, sent


async def _store(database_url: str, now: datetime) -> int:
    alerts, events, sent = _busy_day(now)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            session.add_all(alerts)
            await session.flush()
            session.add_all([*events, *sent])
    finally:
        await engine.dispose()
    return len(alerts)


def _drawn(browser: WebDriver, chart: str) -> int:
    """How many of a chart's bars, points and lines have a size on screen."""
    count: int = browser.execute_script(
        """
        const svg = document.querySelector(`[data-testid="${arguments[0]}"] svg[role=img]`);
        if (!svg || svg.getBoundingClientRect().width < 200) return 0;
        return [...svg.querySelectorAll("rect.mark, circle.mark, path.line")]
          .filter((mark) => { const box = mark.getBBox(); return box.width > 0 || box.height > 0; }).length;
        """,
        chart,
    )
    return count


def test_every_chart_is_drawn(console: Console, signed_in: SignedIn, clean_database: str) -> None:
    stored = asyncio.run(_store(clean_database, datetime.now(UTC)))
    browser = signed_in("admin", "/ui/stats")
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=chart-latency]"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-figure=alerts] strong").text == f"{stored:,}"
    drawn = {chart: _drawn(browser, chart) for chart in CHARTS}
    assert all(drawn.values()), drawn
    assert drawn["chart-alerts"] >= 48  # a bar for every half hour at least
    assert foreign_requests(browser, console.url) == []
    # The whole page in the picture, then the window as the other tests expect it.
    size = browser.get_window_size()
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(size["width"], height + 120)
    try:
        screenshot(browser, "console-stats")
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_the_range_and_the_team_are_chosen_on_the_page(console: Console, signed_in: SignedIn) -> None:
    console.submit(alert_type="disk_full", severity="critical")  # team default
    console.submit("writer", alert_type="card_declines", severity="high")  # team payments
    browser = signed_in("admin", "/ui/stats")
    assert browser.find_element(By.CSS_SELECTOR, "nav.ranges [aria-current]").text == "24h"
    browser.find_element(By.CSS_SELECTOR, "nav.ranges a[data-range='7d']").click()
    wait_for(browser, lambda b: "range=7d" in b.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "nav.ranges [aria-current]").text == "7d"
    assert browser.find_element(By.CSS_SELECTOR, "[data-figure=alerts] strong").text == "2"
    browser.find_element(By.NAME, "team").send_keys("payments")
    browser.find_element(By.CSS_SELECTOR, ".stats-controls button[type=submit]").click()
    wait_for(browser, lambda b: "team=payments" in b.current_url)
    assert "range=7d" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, "[data-figure=alerts] strong").text == "1"
    types = browser.find_elements(By.CSS_SELECTOR, "[data-testid=chart-types] rect.mark")
    assert {bar.get_attribute("data-at") for bar in types} == {"card_declines"}
    # A key of team payments sees its team's alert and has no team to choose.
    browser.delete_all_cookies()
    signed_in("oncall", "/ui/stats?range=7d")
    assert browser.find_element(By.CSS_SELECTOR, "[data-figure=alerts] strong").text == "1"
    assert browser.find_elements(By.NAME, "team") == []
