"""Silences: held notifications, release once at the end, matchers.

The app's clock is the FakeClock: a silence ends when the test moves the
clock and wakes the release job, never by waiting.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from app.db.engine import create_engine, create_sessionmaker
from app.services.silences import figures as silence_figures
from app.services.silences import release_ended
from tests.conftest import Service, make_settings
from tests.helpers import create_alert, wait_for
from tests.peers import HttpReceiver


def silence_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matchers": [{"name": "alert_type", "value": "disk_full"}],
        "duration_minutes": 60,
        "created_by": "alice",
        "comment": "storage maintenance",
    }
    body.update(overrides)
    return body


async def create_silence(svc: Service, **overrides: Any) -> dict[str, Any]:
    response = await svc.client.post("/silences", json=silence_body(**overrides))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def rows(svc: Service, alert_id: str) -> list[dict[str, Any]]:
    detail = (await svc.client.get(f"/alerts/{alert_id}")).json()
    found: list[dict[str, Any]] = detail["notifications"]
    return found


async def quiesce(svc: Service) -> None:
    """Let the delivery worker finish whatever it can claim now."""
    await svc.app.state.dispatcher.run_once()
    await svc.app.state.dispatcher.drain()


def hooks(receiver: HttpReceiver) -> dict[str, Any]:
    return {"channels": {"hooks": {"type": "webhook", "url": receiver.url}}, "default_channels": ["hooks"]}


async def test_a_silenced_alert_sends_nothing_then_notifies_once_when_the_silence_ends(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(**hooks(http_receiver)) as svc:
        silence = await create_silence(svc)
        assert silence["state"] == "active"
        alert = await create_alert(svc.client)  # high severity
        assert alert["silenced"] is True and alert["silenced_by"] == [silence["id"]]
        # Still deduplicated and escalated in state, but nothing goes out.
        for _ in range(3):
            assert (await svc.client.post("/alerts", json=_same())).status_code == 200
        svc.clock.advance(minutes=31)
        tick = (await svc.client.post("/escalation/tick")).json()
        assert [s["to_level"] for s in tick["steps"]] == [2]
        await quiesce(svc)
        held = await rows(svc, alert["id"])
        assert {r["status"] for r in held} == {"silenced"} and {r["reason"] for r in held} == {
            "new",
            "escalation",
        }
        assert all(r["silence_id"] == silence["id"] for r in held)
        assert http_receiver.requests == []
        detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
        assert detail["occurrences"] == 4 and detail["escalation_level"] == 2 and detail["silenced"]

        svc.clock.advance(minutes=30)  # the silence is over
        svc.app.state.wake_silences()
        await wait_for(lambda: _received(http_receiver, 1))
        await quiesce(svc)
        [request] = http_receiver.requests
        body = json.loads(request.body)
        assert body["reason"] == "unsilenced" and body["alert"]["id"] == alert["id"] and body["level"] == 2
        # Released once: more runs of the job send nothing more.
        svc.app.state.wake_silences()
        await svc.app.state.dispatcher.run_once()
        await quiesce(svc)
        assert len(http_receiver.requests) == 1
        detail = (await svc.client.get(f"/alerts/{alert['id']}")).json()
        assert detail["silenced"] is False
        [unsilenced] = [e for e in detail["history"] if e["kind"] == "unsilenced"]
        assert unsilenced["data"]["held"] == 2
        listed = (await svc.client.get("/silences", params={"state": "expired"})).json()
        assert [s["id"] for s in listed] == [silence["id"]]


def _same() -> dict[str, Any]:
    from tests.helpers import alert_body

    return alert_body()


async def _received(receiver: HttpReceiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def test_an_expired_silence_has_no_effect(service_factory, http_receiver: HttpReceiver) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(**hooks(http_receiver)) as svc:
        silence = await create_silence(svc, duration_minutes=10)
        svc.clock.advance(minutes=11)
        alert = await create_alert(svc.client)
        assert alert["silenced"] is False
        await wait_for(lambda: _received(http_receiver, 1))
        assert json.loads(http_receiver.requests[0].body)["reason"] == "new"
        assert (await svc.client.get(f"/silences/{silence['id']}")).json()["state"] == "expired"


async def test_a_pending_silence_waits_for_its_start(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        starts = svc.clock.now + timedelta(minutes=5)
        silence = await create_silence(
            svc,
            starts_at=starts.isoformat(),
            ends_at=(starts + timedelta(hours=1)).isoformat(),
            duration_minutes=None,
        )
        assert silence["state"] == "pending"
        before = await create_alert(svc.client, source="db-1")
        assert before["silenced"] is False
        svc.clock.advance(minutes=5)
        after = await create_alert(svc.client, source="db-2")
        assert after["silenced"] is True
        assert [r["status"] for r in await rows(svc, after["id"])] == ["silenced"]


async def test_regex_and_label_matchers(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        await create_silence(
            svc,
            matchers=[
                {"name": "labels.env", "value": "prod|staging", "is_regex": True},
                {"name": "severity", "value": "high|critical", "is_regex": True},
                {"name": "source", "value": "db-.*", "is_regex": True},
            ],
        )
        cases = [
            ({"labels": {"env": "prod"}, "source": "db-1"}, True),
            ({"labels": {"env": "staging"}, "source": "db-2", "severity": "critical"}, True),
            ({"labels": {"env": "production"}, "source": "db-3"}, False),  # the whole value must match
            ({"labels": {"env": "prod"}, "source": "db-4", "severity": "low"}, False),
            ({"labels": {"env": "prod"}, "source": "web-1"}, False),
            ({"labels": {}, "source": "db-5"}, False),  # a missing label reads as ""
        ]
        for overrides, silenced in cases:
            alert = await create_alert(svc.client, **overrides)
            assert alert["silenced"] is silenced, overrides


async def test_equality_matcher_on_a_missing_label_matches_the_empty_string(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        await create_silence(svc, matchers=[{"name": "labels.team", "value": ""}])
        assert (await create_alert(svc.client, labels={}))["silenced"] is True
        assert (await create_alert(svc.client, labels={"team": "db"}))["silenced"] is False


async def test_deleting_a_silence_releases_at_once_and_only_once(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(**hooks(http_receiver)) as svc:
        silence = await create_silence(svc)
        alert = await create_alert(svc.client)
        await quiesce(svc)
        assert http_receiver.requests == []
        response = await svc.client.delete(f"/silences/{silence['id']}")
        assert response.status_code == 200 and response.json()["state"] == "expired"
        await wait_for(lambda: _received(http_receiver, 1))
        assert json.loads(http_receiver.requests[0].body)["reason"] == "unsilenced"
        again = await svc.client.delete(f"/silences/{silence['id']}")
        assert again.status_code == 409 and "already expired" in again.json()["message"]
        assert (await svc.client.get(f"/alerts/{alert['id']}")).json()["silenced"] is False


async def test_an_alert_resolved_during_the_silence_sends_nothing_after(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(**hooks(http_receiver)) as svc:
        silence = await create_silence(svc)
        alert = await create_alert(svc.client)
        resolved = await svc.client.patch(f"/alerts/{alert['id']}/resolve", json={"resolved_by": "bob"})
        assert resolved.status_code == 200
        await svc.client.delete(f"/silences/{silence['id']}")
        await quiesce(svc)
        assert http_receiver.requests == []
        statuses = [(r["reason"], r["status"]) for r in await rows(svc, alert["id"])]
        assert sorted(statuses) == [("new", "silenced"), ("resolved", "silenced")]


async def test_overlapping_silences_hold_until_the_last_one_ends(
    service_factory, http_receiver: HttpReceiver
) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(**hooks(http_receiver)) as svc:
        short = await create_silence(svc, duration_minutes=10)
        long = await create_silence(svc, duration_minutes=120, matchers=[{"name": "source", "value": "db-1"}])
        alert = await create_alert(svc.client)
        assert set(alert["silenced_by"]) == {short["id"], long["id"]}
        svc.clock.advance(minutes=11)
        svc.app.state.wake_silences()
        await wait_for(lambda: _silence_of_rows(svc, alert["id"], long["id"]))
        await quiesce(svc)
        assert http_receiver.requests == []
        svc.clock.advance(minutes=120)
        svc.app.state.wake_silences()
        await wait_for(lambda: _received(http_receiver, 1))
        await quiesce(svc)
        assert len(http_receiver.requests) == 1


async def _has_reason(svc: Service, alert_id: str, reason: str) -> bool:
    return any(r["reason"] == reason for r in await rows(svc, alert_id))


async def _silence_of_rows(svc: Service, alert_id: str, silence_id: str) -> bool:
    return all(r["silence_id"] == silence_id for r in await rows(svc, alert_id))


async def test_silence_validation_names_the_field(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        bad_regex = await svc.client.post(
            "/silences", json=silence_body(matchers=[{"name": "source", "value": "db-(", "is_regex": True}])
        )
        assert bad_regex.status_code == 422 and bad_regex.json()["field"] == "matchers.0.value"
        bad_name = await svc.client.post(
            "/silences", json=silence_body(matchers=[{"name": "colour", "value": "x"}])
        )
        assert bad_name.status_code == 422 and bad_name.json()["field"] == "matchers.0.name"
        past = (svc.clock.now - timedelta(minutes=1)).isoformat()
        in_past = await svc.client.post("/silences", json=silence_body(duration_minutes=None, ends_at=past))
        assert in_past.status_code == 422 and in_past.json()["field"] == "ends_at"
        both = await svc.client.post("/silences", json=silence_body(ends_at=svc.clock.now.isoformat()))
        assert both.status_code == 422 and both.json()["field"] == "ends_at"
        none = await svc.client.post("/silences", json=silence_body(matchers=[]))
        assert none.status_code == 422 and none.json()["field"] == "matchers"
        assert (await svc.client.get("/silences")).json() == []
        missing = await svc.client.delete("/silences/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404


async def test_channel_figures_count_silenced_notifications(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        await create_silence(svc)
        await create_alert(svc.client, source="a")
        await create_alert(svc.client, source="b")
        figures = {c["name"]: c for c in (await svc.client.get("/channels")).json()}
        assert figures["console"]["silenced"] == 2 and figures["console"]["sent"] == 0


async def test_silence_figures_for_the_statistics(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        short = await create_silence(svc, duration_minutes=5)  # alert_type disk_full
        await create_silence(svc, duration_minutes=60, matchers=[{"name": "source", "value": "db-9"}])
        starts = (svc.clock.now + timedelta(hours=2)).isoformat()
        await create_silence(svc, starts_at=starts, duration_minutes=10)
        first = await create_alert(svc.client, source="db-1")  # held by the short one
        await create_alert(svc.client, source="db-9", alert_type="cpu_high")  # held by the long one
        svc.clock.advance(minutes=6)
        svc.app.state.wake_silences()
        await wait_for(lambda: _has_reason(svc, first["id"], "unsilenced"))
        assert (await svc.client.get(f"/silences/{short['id']}")).json()["state"] == "expired"
        async with svc.app.state.sessionmaker() as session, session.begin():
            figures = await silence_figures(session, now=svc.clock.now)
        assert (figures.active, figures.pending) == (1, 1)
        assert figures.silenced_notifications == 2 and figures.held_notifications == 1
        stats = (await svc.client.get("/stats")).json()
        assert stats["silences"] == {
            "active": 1,
            "pending": 1,
            "held_notifications": 1,
            "silenced_notifications": 2,
        }


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_replicas_release_each_silence_once(clean_database: str) -> None:
    settings = make_settings(clean_database)
    from app.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await app.state.delivery_worker.stop()
            for i in range(5):
                body = silence_body(duration_minutes=1, matchers=[{"name": "source", "value": f"s{i}"}])
                assert (await client.post("/silences", json=body)).status_code == 201
            for i in range(5):
                body = {"alert_type": "t", "severity": "low", "message": "m", "source": f"s{i}"}
                assert (await client.post("/alerts", json=body)).status_code == 201
    later = app.state.clock() + timedelta(minutes=2)
    engines = [create_engine(clean_database), create_engine(clean_database)]
    try:

        async def replica(engine: Any) -> int:
            async with create_sessionmaker(engine)() as session, session.begin():
                return len(await release_ended(session, settings=settings, now=later))

        counts = await asyncio.gather(*(replica(e) for e in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(counts) == 5, counts


async def test_a_submission_held_by_a_silence_answers_not_notified(service: Service) -> None:
    silence = {
        "matchers": [{"name": "source", "value": "db-1"}],
        "duration_minutes": 30,
        "created_by": "alice",
        "comment": "maintenance",
    }
    assert (await service.client.post("/silences", json=silence)).status_code == 201
    held = await create_alert(service.client, source="db-1")
    assert (held["silenced"], held["notified"]) == (True, False)
    other = await create_alert(service.client, source="db-2")
    assert (other["silenced"], other["notified"]) == (False, True)
