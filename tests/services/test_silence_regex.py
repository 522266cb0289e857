"""Silence regexes in linear time (RE2), the limits on silences, and the
silenced flag kept right across replicas."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx

from tests.helpers import create_alert
from tests.services.test_silences import create_silence, silence_body


async def _timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def test_a_backtracking_pattern_neither_stalls_a_submission_nor_the_service(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        await create_silence(svc, matchers=[{"name": "labels.path", "value": "(a+)+$", "is_regex": True}])
        # A backtracking engine takes minutes here (2^30 ways to split the run of a's).
        body = {
            "alert_type": "t",
            "severity": "low",
            "message": "m",
            "source": "s",
            "labels": {"path": "a" * 30 + "!"},
        }
        (posted, post_seconds), (health, health_seconds) = await asyncio.gather(
            _timed(svc.client.post("/alerts", json=body)), _timed(svc.client.get("/healthz"))
        )
        assert posted.status_code == 201 and posted.json()["silenced"] is False
        assert health.status_code == 200
        assert post_seconds < 1.0 and health_seconds < 1.0, (post_seconds, health_seconds)
        held = await create_alert(svc.client, source="s2", labels={"path": "a" * 30})
        assert held["silenced"] is True


async def test_a_pattern_re2_refuses_is_a_422_naming_the_matcher(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        for pattern in (r"(a)\1", "(?=a)b", "(?<!x)y"):
            matchers = [
                {"name": "alert_type", "value": "disk_full"},
                {"name": "labels.path", "value": pattern, "is_regex": True},
            ]
            response = await svc.client.post("/silences", json=silence_body(matchers=matchers))
            assert response.status_code == 422, (pattern, response.text)
            error = response.json()
            assert error["field"] == "matchers.1.value"
            assert "matchers[1] (labels.path)" in error["message"] and "RE2" in error["message"]
        assert (await svc.client.get("/silences")).json() == []


async def test_each_limit_is_a_422_naming_it(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(silence_max_in_force=2) as svc:
        many = [{"name": f"labels.k{i}", "value": "v"} for i in range(33)]
        response = await svc.client.post("/silences", json=silence_body(matchers=many))
        assert response.status_code == 422 and response.json()["field"] == "matchers"
        assert "silence_max_matchers" in response.json()["message"]

        long = [{"name": "source", "value": "a" * 257, "is_regex": True}]
        response = await svc.client.post("/silences", json=silence_body(matchers=long))
        assert response.status_code == 422 and response.json()["field"] == "matchers.0.value"
        assert "silence_max_pattern_length" in response.json()["message"]
        # The length limit is for patterns; an equality value may be longer.
        await create_silence(svc, matchers=[{"name": "source", "value": "a" * 257}])

        later = (svc.clock.now + timedelta(hours=1)).isoformat()
        pending = await create_silence(svc, starts_at=later)  # a pending silence counts too
        response = await svc.client.post("/silences", json=silence_body())
        assert response.status_code == 422 and "silence_max_in_force" in response.json()["message"]
        assert (await svc.client.delete(f"/silences/{pending['id']}")).status_code == 200
        await create_silence(svc)  # room again


async def test_the_silenced_flag_follows_silences_made_by_another_replica(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as one, service_factory() as two:
        alert = await create_alert(one.client)
        listed = (await one.client.get("/alerts")).json()["items"]
        assert [a["silenced"] for a in listed] == [False]  # replica one now has its silences cached

        silence = await create_silence(two)
        listed = (await one.client.get("/alerts")).json()["items"]
        assert listed[0]["silenced_by"] == [silence["id"]]
        assert (await one.client.get(f"/alerts/{alert['id']}")).json()["silenced"] is True
        duplicate = await one.client.post("/alerts", json=_same_identity())
        assert duplicate.json()["silenced_by"] == [silence["id"]]

        assert (await two.client.delete(f"/silences/{silence['id']}")).status_code == 200
        listed = (await one.client.get("/alerts")).json()["items"]
        assert [a["silenced"] for a in listed] == [False]


async def test_a_pending_silence_applies_once_it_starts(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as svc:
        starts = (svc.clock.now + timedelta(minutes=10)).isoformat()
        silence = await create_silence(svc, starts_at=starts)
        alert = await create_alert(svc.client)
        assert alert["silenced"] is False
        svc.clock.advance(minutes=10)
        listed = (await svc.client.get("/alerts")).json()["items"]
        assert listed[0]["silenced_by"] == [silence["id"]]
        svc.clock.advance(minutes=60)  # and no longer once it has ended
        listed = (await svc.client.get("/alerts")).json()["items"]
        assert listed[0]["silenced"] is False


def _same_identity() -> dict[str, Any]:
    from tests.helpers import alert_body

    return alert_body()
