"""/metrics after real traffic, parsed with prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Service
from tests.helpers import create_alert, post_alert, wait_for
from tests.peers import HttpReceiver


async def scrape(svc: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await svc.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


async def test_counters_move_by_exactly_the_traffic(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    http_receiver.answer(404)
    async with service_factory(channels={"hooks": {"type": "webhook", "url": http_receiver.url}}) as svc:
        before = await scrape(svc)
        a = await create_alert(svc.client, severity="critical")
        for _ in range(3):
            await post_alert(svc.client, severity="critical")
        await create_alert(svc.client, source="other", severity="low", channels=["hooks"])

        async def delivered() -> bool:
            now = await scrape(svc)
            moved = [
                value(now, "alerts_notifications_total", channel=c, result=r)
                - value(before, "alerts_notifications_total", channel=c, result=r)
                for c, r in (("hooks", "failed"), ("console", "sent"))
            ]
            return all(m >= 1 for m in moved)

        # Settle deliveries before moving the clock, so no lease expires mid-attempt.
        await wait_for(delivered)
        svc.clock.advance(minutes=1)
        await svc.client.patch(f"/alerts/{a['id']}/acknowledge", json={"by": "alice"})
        svc.clock.advance(minutes=2)
        await svc.client.patch(f"/alerts/{a['id']}/resolve", json={"resolved_by": "alice"})
        after = await scrape(svc)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert delta("alerts_submissions_total", outcome="created") == 2
        assert delta("alerts_submissions_total", outcome="duplicate") == 3
        assert delta("alerts_submissions_total", outcome="reopened") == 0
        assert delta("alerts_notifications_total", channel="console", result="sent") == 1
        assert delta("alerts_notifications_total", channel="hooks", result="failed") == 1
        assert delta("alerts_time_to_acknowledge_seconds_count") == 1
        assert delta("alerts_time_to_acknowledge_seconds_sum") == 60
        assert delta("alerts_time_to_resolve_seconds_sum") == 180
        assert delta("alerts_delivery_duration_seconds_count", channel="hooks") == 1
        route = dict(method="POST", route="/alerts", status="201")
        assert delta("alerts_http_request_duration_seconds_count", **route) == 2
        # Gauges come from the database at scrape time.
        assert value(after, "alerts_active", severity="low") == 1
        assert value(after, "alerts_active", severity="critical") == 0


async def test_backlog_gauge_counts_waiting_notifications(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(delivery_poll_seconds=3600) as svc:
        await svc.app.state.delivery_worker.stop()  # nobody delivers: the rows wait
        for i in range(3):
            await create_alert(svc.client, source=f"h{i}")
        samples = await scrape(svc)
        assert value(samples, "alerts_outbox_backlog", channel="console", status="pending") == 3
        assert value(samples, "alerts_active", severity="high") == 3
