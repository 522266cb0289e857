"""One Alertmanager notification is one transaction, applied in order.

Over HTTP against the whole application (both databases), and, for the
one-by-one equivalence, through the service with no delivery worker running
(tests/contract/stores.py), so that the stored rows can be compared whole.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import bulk
from app.integrations.alertmanager import AlertmanagerWebhook
from app.models import Alert, AlertEvent, OutboxRow
from app.services import integrations
from tests.conftest import Service
from tests.contract.stores import driver, events_without_order
from tests.integrations.test_alertmanager import URL, payload

# 1,000 Alertmanager alerts are about half a megabyte of JSON.
LARGE_BODY = 2 * 1024 * 1024


def am(n: int, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "severity": "critical", "instance": f"db-{n}:9100"} | labels,
        "annotations": {"summary": f"/var on db-{n} is full"},
        "startsAt": "2026-01-05T08:55:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-05T09:10:00Z",
        "fingerprint": f"fp-{n:05d}",
    }


async def post(svc: Service, *alerts: dict[str, Any]) -> list[dict[str, Any]]:
    response = await svc.client.post(URL, json=payload(*alerts))
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(alerts)))
    return results


async def counts(svc: Service) -> tuple[int, int, int]:
    async with svc.app.state.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).select_from(Alert)) or 0,
            await session.scalar(select(func.count()).select_from(AlertEvent)) or 0,
            await session.scalar(select(func.count()).select_from(OutboxRow)) or 0,
        )


async def test_a_thousand_alerts_in_one_notification(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(max_body_bytes=LARGE_BODY) as svc:
        firing = [am(n) for n in range(1000)]
        results = await post(svc, *firing)
        assert {r["outcome"] for r in results} == {"created"}
        assert len({r["alert_id"] for r in results}) == 1000
        svc.clock.advance(minutes=5)
        again = await post(svc, *firing)
        assert [r["alert_id"] for r in again] == [r["alert_id"] for r in results]
        assert {r["outcome"] for r in again} == {"duplicate"}
        svc.clock.advance(minutes=5)
        ended = await post(svc, *(am(n, "resolved") for n in range(1000)))
        assert {r["outcome"] for r in ended} == {"resolved"}
        alerts, events, notices = await counts(svc)
        assert alerts == 1000 and events == 2000  # created, then resolved
        assert notices == 1000  # the new alerts' notices (console sends no resolved notice)
        listed = (await svc.client.get("/alerts", params={"status": "resolved", "limit": 500})).json()
        assert len(listed["items"]) == 500 and all(a["occurrences"] == 2 for a in listed["items"])


async def test_firing_and_resolved_alerts_apply_in_their_order(service: Service) -> None:
    await post(service, am(1), am(2))
    service.clock.advance(minutes=1)
    results = await post(
        service, am(1, "resolved"), am(3), am(1), am(2, "resolved"), am(3, "resolved"), am(4, "resolved")
    )
    assert [r["outcome"] for r in results] == [
        "resolved",
        "created",
        "reopened",
        "resolved",
        "resolved",
        "unknown",
    ]
    assert results[0]["alert_id"] == results[2]["alert_id"]
    assert results[1]["alert_id"] == results[4]["alert_id"]
    again = await post(service, am(2, "resolved"), am(3, "resolved"))
    assert [r["outcome"] for r in again] == ["already_resolved", "already_resolved"]
    assert again[0]["alert_id"] == results[3]["alert_id"]
    reopened = (await service.client.get(f"/alerts/{results[2]['alert_id']}")).json()
    assert reopened["status"] == "reopened"
    moves = [(e["from_status"], e["to_status"]) for e in reopened["history"] if e["kind"] == "status"]
    assert moves == [("open", "resolved"), ("resolved", "reopened")]


async def test_a_rejected_alert_does_not_fail_the_others_but_a_failed_write_fails_all(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    await post(service, am(1))
    before = await counts(service)
    nameless = am(9)
    del nameless["labels"]["alertname"]
    real = bulk.execute

    async def fail_after_the_alerts(session: Any, work: Any) -> None:
        await real(session, work[:2])  # the new alert, the resolved one's columns
        raise RuntimeError("the history insert failed")

    monkeypatch.setattr(bulk, "execute", fail_after_the_alerts)
    response = await service.client.post(URL, json=payload(am(1, "resolved"), nameless, am(2)))
    assert response.status_code == 500
    assert await counts(service) == before
    monkeypatch.setattr(bulk, "execute", real)
    results = await post(service, am(1, "resolved"), nameless, am(2))
    assert [r["outcome"] for r in results] == ["resolved", "rejected", "created"]
    assert "alertname" in results[1]["error"]


async def test_a_notification_over_the_limit_is_refused_naming_it(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(max_batch_alerts=2) as svc:
        response = await svc.client.post(URL, json=payload(am(1), am(2), am(3)))
        assert response.status_code == 422
        body = response.json()
        assert body["field"] == "alerts" and "at most 2 alerts" in body["message"]
        assert await counts(svc) == (0, 0, 0)


def hook(*alerts: dict[str, Any]) -> AlertmanagerWebhook:
    return AlertmanagerWebhook.model_validate(payload(*alerts))


# (minute, the notification's alerts)
NOTIFICATIONS: list[tuple[float, list[dict[str, Any]]]] = [
    (0, [am(1), am(2), am(1), am(3, severity="warning")]),
    (1, [am(2, "resolved"), am(4), am(2), am(1, "resolved"), am(5, "resolved")]),
    (2, [am(3, severity="critical"), am(1), am(2, "resolved"), am(2, "resolved")]),
]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_notification_stores_what_its_alerts_store_one_by_one(
    database: str, postgresql_url: str, sqlite_url: str
) -> None:
    url = {"sqlite": sqlite_url, "postgresql": postgresql_url}[database]
    records = []
    for whole in (True, False):
        results: list[tuple[str, str | None]] = []
        async with driver(
            ("orm", database), url, channels={"hooks": {"type": "webhook", "url": "http://127.0.0.1:9"}}
        ) as d:
            for minute, alerts in NOTIFICATIONS:
                now = d.at(minute).now
                for part in [alerts] if whole else [[one] for one in alerts]:
                    done, _ = await integrations.apply_alertmanager(
                        d.sessionmaker,
                        hook=hook(*part),
                        channels=["hooks", "console"],
                        team="default",
                        settings=d.settings,
                        now=now,
                    )
                    results += [(r.outcome, d.name(r.alert_id) if r.alert_id else None) for r in done]
            snapshot = await d.snapshot()
        records.append((results, snapshot["alerts"], events_without_order(snapshot), snapshot["outbox"]))
    batched, alone = records
    assert [outcome for outcome, _ in batched[0]].count("reopened") == 2
    for part, ours, theirs in zip(("results", "alerts", "events", "outbox"), batched, alone, strict=True):
        assert ours == theirs, f"a whole notification differs from its alerts one by one in {part}"
