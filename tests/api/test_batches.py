"""POST /alerts with an array: one transaction, one answer per alert, in order.

Every test runs on SQLite and on PostgreSQL (tests/conftest.py), against the
whole application with its lifespan; the one-by-one equivalence of a batch
is tests/contract/test_batch_contract.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import bulk, pg_ingest
from app.models import Alert, AlertEvent, OutboxRow
from tests.conftest import Service
from tests.helpers import alert_body, create_alert, move

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)


def alert(n: int, **overrides: Any) -> dict[str, Any]:
    return alert_body(**({"source": f"db-{n}", "message": f"/var is {n}% full"} | overrides))


async def post_batch(svc: Service, bodies: list[Any]) -> list[dict[str, Any]]:
    response = await svc.client.post("/alerts", json=bodies)
    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    answers: list[dict[str, Any]] = response.json()
    return answers


async def counts(svc: Service) -> tuple[int, int, int]:
    """Alerts, history events and outbox rows in the database."""
    async with svc.app.state.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).select_from(Alert)) or 0,
            await session.scalar(select(func.count()).select_from(AlertEvent)) or 0,
            await session.scalar(select(func.count()).select_from(OutboxRow)) or 0,
        )


async def test_a_batch_answers_one_result_per_alert_in_order(service: Service) -> None:
    answers = await post_batch(service, [alert(n) for n in (3, 1, 2)])
    assert [a["source"] for a in answers] == ["db-3", "db-1", "db-2"]
    assert [a["outcome"] for a in answers] == ["created"] * 3
    assert all(a["notified"] is True and a["silenced"] is False for a in answers)
    # Each result has the shape of the answer to that alert alone.
    single = await create_alert(service.client, source="db-9")
    assert all(set(a) == set(single) for a in answers)
    for answer in answers:
        stored = (await service.client.get(f"/alerts/{answer['id']}")).json()
        assert stored["source"] == answer["source"] and stored["occurrences"] == 1
        assert [e["kind"] for e in stored["history"]] == ["created"]
        assert [n["reason"] for n in stored["notifications"]] == ["new"]


async def test_a_repeat_within_a_batch_merges_into_the_first(service: Service) -> None:
    answers = await post_batch(
        service,
        [alert(1), alert(2), alert(1, severity="critical", message="now 99%"), alert(1, severity="low")],
    )
    assert [a["outcome"] for a in answers] == ["created", "created", "duplicate", "duplicate"]
    assert answers[2]["id"] == answers[3]["id"] == answers[0]["id"] != answers[1]["id"]
    # Each answer is the alert as that submission left it.
    assert [(a["occurrences"], a["severity"], a["notified"]) for a in answers] == [
        (1, "high", True),
        (1, "high", True),
        (2, "critical", True),  # a higher severity notifies
        (3, "critical", False),  # a lower one is suppressed
    ]
    stored = (await service.client.get(f"/alerts/{answers[0]['id']}")).json()
    assert (stored["occurrences"], stored["suppressed_count"], stored["message"]) == (3, 1, "/var is 1% full")
    assert [e["kind"] for e in stored["history"]] == ["created", "severity_raised", "notified"]
    assert sorted(n["reason"] for n in stored["notifications"]) == ["new", "severity"]


async def test_a_batch_merges_into_stored_alerts_and_reopens_ended_ones(service: Service) -> None:
    first = await create_alert(service.client, source="db-1")
    ended = await create_alert(service.client, source="db-2")
    assert (await move(service.client, ended["id"], "resolved")).status_code == 200
    service.clock.advance(minutes=5)
    answers = await post_batch(service, [alert(1), alert(2), alert(2)])
    assert [(a["outcome"], a["id"]) for a in answers] == [
        ("duplicate", first["id"]),
        ("reopened", ended["id"]),
        ("duplicate", ended["id"]),
    ]
    assert answers[1]["status"] == answers[2]["status"] == "reopened"


async def test_a_silence_holds_the_notifications_of_the_alerts_it_matches(service: Service) -> None:
    silence = {
        "matchers": [{"name": "source", "value": "db-2"}],
        "duration_minutes": 30,
        "created_by": "alice",
        "comment": "maintenance",
    }
    created = await service.client.post("/silences", json=silence)
    assert created.status_code == 201, created.text
    answers = await post_batch(service, [alert(1), alert(2)])
    assert [(a["silenced"], a["notified"]) for a in answers] == [(False, True), (True, False)]
    assert answers[1]["silenced_by"] == [created.json()["id"]]
    held = (await service.client.get(f"/alerts/{answers[1]['id']}")).json()["notifications"]
    assert [n["status"] for n in held] == ["silenced"]


async def test_one_bad_alert_refuses_the_batch_and_is_named_by_its_index(service: Service) -> None:
    bad_severity = [alert(0), alert(1), alert(2), alert(3, severity="bogus")]
    response = await service.client.post("/alerts", json=bad_severity)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error" and body["field"] == "[3].severity"
    assert body["message"].startswith("[3].severity: ")

    several = [alert(0, labels={"env": ""}, channels=["nowhere"]), "not an alert", {**alert(2), "extra": 1}]
    body = (await service.client.post("/alerts", json=several)).json()
    assert [e["field"] for e in body["errors"]] == ["[0].channels.0", "[1]", "[2].extra"]
    assert "unknown channel 'nowhere'" in body["errors"][0]["message"]
    assert await counts(service) == (0, 0, 0)


async def test_a_batch_over_the_limit_is_refused_naming_the_limit(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(max_batch_alerts=3) as svc:
        response = await svc.client.post("/alerts", json=[alert(n) for n in range(4)])
        assert response.status_code == 422
        body = response.json()
        assert body["field"] == "body" and "at most 3 alerts" in body["message"]
        assert "max_batch_alerts" in body["message"]
        assert len(await post_batch(svc, [alert(n) for n in range(3)])) == 3


async def test_a_failed_write_leaves_nothing_behind(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's statements run in one transaction: when one fails after
    others ran, none of them stays (here the outbox rows fail after the
    alerts and their history were written). The general path: see below for
    the store's own on PostgreSQL."""
    monkeypatch.setattr(service.app.state, "batch_fast_path", None)
    await create_alert(service.client, source="db-1")
    before = await counts(service)
    real = bulk.execute

    async def fail_at_the_outbox(session: Any, work: Any) -> None:
        await real(session, work[:-1])
        assert await session.scalar(select(func.count()).select_from(Alert)) == 3  # written, not committed
        raise RuntimeError("the outbox insert failed")

    monkeypatch.setattr(bulk, "execute", fail_at_the_outbox)
    response = await service.client.post("/alerts", json=[alert(1), alert(2), alert(3)])
    assert response.status_code == 500
    assert await counts(service) == before
    stored = (await service.client.get("/alerts")).json()["items"]
    assert [(a["source"], a["occurrences"]) for a in stored] == [("db-1", 1)]


@pytest.mark.parametrize("database_url", ["postgresql", "postgresql-pgbouncer"], indirect=True)
async def test_a_failed_round_leaves_nothing_behind(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a batch with repeats goes through the ingest statement in
    rounds, in one transaction (db/pg_batch.py): when the second round fails,
    the first round's alerts, history and outbox rows do not stay."""
    assert service.app.state.batch_fast_path is not None
    await create_alert(service.client, source="db-1")
    before = await counts(service)
    real = pg_ingest.arguments
    rounds: list[int] = []

    def fail_in_the_second_round(batch: Any) -> list[Any]:
        rounds.append(len(batch))
        if len(rounds) == 2:
            raise RuntimeError("the second round failed")
        return real(batch)

    monkeypatch.setattr(pg_ingest, "arguments", fail_in_the_second_round)
    response = await service.client.post("/alerts", json=[alert(1), alert(2), alert(1)])
    assert response.status_code == 500
    assert rounds == [2, 1]
    assert await counts(service) == before
    stored = (await service.client.get("/alerts")).json()["items"]
    assert [(a["source"], a["occurrences"]) for a in stored] == [("db-1", 1)]


async def test_an_empty_batch_is_refused(service: Service) -> None:
    response = await service.client.post("/alerts", json=[])
    assert response.status_code == 422
    body = response.json()
    assert (body["field"], body["message"]) == ("body", "a batch holds at least one alert")


async def test_a_single_object_keeps_its_answers(service: Service) -> None:
    created = await service.client.post("/alerts", json=alert(1))
    assert created.status_code == 201 and created.headers["location"].endswith(created.json()["id"])
    merged = await service.client.post("/alerts", json=alert(1))
    assert merged.status_code == 200 and merged.json()["outcome"] == "duplicate"
    bad = (await service.client.post("/alerts", json=alert(1, severity="bogus"))).json()
    assert bad["field"] == "severity"
    plain = await service.client.post("/alerts", content=b"hello", headers={"content-type": "text/plain"})
    assert plain.status_code == 422 and plain.json()["field"] == "body"
    assert "Content-Type" in plain.json()["message"]
    scalar = (await service.client.post("/alerts", json=42)).json()
    assert (scalar["field"], scalar["message"]) == ("body", "body: the request body must be a JSON object")
    empty = (await service.client.post("/alerts", headers={"content-type": "application/json"})).json()
    assert empty["message"] == "body: the request body is empty: send a JSON object"
