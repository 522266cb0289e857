"""A batch worked out outside its write transaction (services/batch.py)
still sees what other writers did meanwhile, on both databases."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from app.services import batch
from tests.conftest import Service
from tests.helpers import alert_body, create_alert

pytestmark = pytest.mark.pgbouncer  # also through PgBouncer (tests/conftest.py)

SILENCE = {
    "matchers": [{"name": "source", "value": "db-2"}],
    "duration_minutes": 30,
    "created_by": "alice",
    "comment": "maintenance",
}


async def post_batch(svc: Service, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await svc.client.post("/alerts", json=bodies)
    assert response.status_code == 200, response.text
    answers: list[dict[str, Any]] = response.json()
    return answers


def interfering(svc: Service, monkeypatch: pytest.MonkeyPatch, *, times: int) -> list[int]:
    """While the next `times` batches are worked out (between their read and
    their write transaction), another client submits a duplicate of db-1.
    Batches take the general path (on PostgreSQL the store's own path,
    db/pg_batch.py, reads nothing before it writes)."""
    monkeypatch.setattr(svc.app.state, "batch_fast_path", None)
    real = batch._Batch.work_out
    calls: list[int] = []

    async def work_out(self: Any, seen: Any, *, hold: Any) -> Any:
        work = await real(self, seen, hold=hold)
        if len(calls) < times and hold.__name__ == "assumed":  # worked out from the unlocked read
            calls.append(1)
            assert (await svc.client.post("/alerts", json=alert_body(source="db-1"))).status_code == 200
        return work

    monkeypatch.setattr(batch._Batch, "work_out", work_out)
    return calls


async def test_a_change_between_the_read_and_the_write_is_worked_out_again(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.services.batch")
    first = await create_alert(service.client, source="db-1")
    calls = interfering(service, monkeypatch, times=1)
    answers = await post_batch(service, [alert_body(source="db-1"), alert_body(source="db-2")])
    assert calls == [1]
    assert any("working it out again" in r.getMessage() for r in caplog.records)
    # The duplicate that slipped in between counts: it is the second occurrence.
    assert (answers[0]["id"], answers[0]["occurrences"]) == (first["id"], 3)
    stored = (await service.client.get(f"/alerts/{first['id']}")).json()
    assert stored["occurrences"] == 3
    listed = (await service.client.get("/alerts")).json()["items"]
    assert sorted(a["source"] for a in listed) == ["db-1", "db-2"]


async def test_a_batch_that_keeps_moving_is_worked_out_inside_its_write_transaction(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    silence = await service.client.post("/silences", json=SILENCE)
    first = await create_alert(service.client, source="db-1")
    calls = interfering(service, monkeypatch, times=batch.OPTIMISTIC_ATTEMPTS)
    answers = await post_batch(service, [alert_body(source="db-1"), alert_body(source="db-2")])
    assert len(calls) == batch.OPTIMISTIC_ATTEMPTS
    assert (answers[0]["id"], answers[0]["occurrences"]) == (first["id"], 2 + batch.OPTIMISTIC_ATTEMPTS)
    assert (answers[1]["silenced_by"], answers[1]["notified"]) == ([silence.json()["id"]], False)


async def test_batches_racing_single_submissions_count_every_occurrence(service: Service) -> None:
    """Simultaneous batches and single submissions of the same identities:
    one alert per identity, every submission counted once."""
    shared = [alert_body(source=f"db-{n}") for n in range(5)]
    singles = [service.client.post("/alerts", json=body) for body in shared * 6]
    batches = [service.client.post("/alerts", json=shared + shared) for _ in range(4)]
    responses = await asyncio.gather(*singles, *batches)
    assert all(r.status_code in (200, 201) for r in responses), [
        r.text for r in responses if r.status_code >= 300
    ]
    listed = (await service.client.get("/alerts")).json()["items"]
    assert sorted((a["source"], a["occurrences"]) for a in listed) == [
        (f"db-{n}", 6 + 4 * 2) for n in range(5)
    ]
    created = [r.json()["outcome"] for r in responses[: len(singles)]].count("created")
    created += sum(a["outcome"] == "created" for r in responses[len(singles) :] for a in r.json())
    assert created == 5
