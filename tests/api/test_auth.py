"""API keys and scopes: the full matrix, over every guarded route.

Each route is called with no key, an unknown key, a key holding every scope
but the one it needs, a key with exactly that scope, and an admin key, through
both `Authorization: Bearer` and `X-API-Key`. A route added to the app without
a row in SCOPE_OF fails `test_every_route_is_in_the_matrix`, so no route ships
unguarded by accident.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from app.api.auth import SCOPES, MetricsAccess, find_key, hash_key
from app.api.ratelimit import RateLimited, RateLimiter
from app.main import create_app
from app.settings import ApiKey, ConfigError, load_settings
from tests.api.test_errors import assert_error_shape
from tests.conftest import ROOT, FakeClock, Service
from tests.helpers import alert_body
from tests.integrations import test_sns

KEYS = {scope: f"key-for-{scope}-{'x' * 20}" for scope in SCOPES}
ALL_BUT = {scope: f"key-without-{scope}-{'y' * 20}" for scope in SCOPES}


def key_config() -> list[dict[str, Any]]:
    config = [{"name": f"only-{s}", "hash": hash_key(k), "scopes": [s]} for s, k in KEYS.items()]
    config += [
        {"name": f"all-but-{s}", "hash": hash_key(k), "scopes": [o for o in SCOPES if o not in (s, "admin")]}
        for s, k in ALL_BUT.items()
        if s != "admin"
    ]
    return config


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def x_api_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


Call = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


_sources = itertools.count()


async def new_alert_id(client: httpx.AsyncClient) -> str:
    """A fresh alert (a new source each time), made with the admin key."""
    body = alert_body(source=f"matrix-{next(_sources)}")
    response = await client.post("/alerts", json=body, headers=bearer(KEYS["admin"]))
    assert response.status_code == 201, response.text
    alert_id: str = response.json()["id"]
    return alert_id


def _with_alert(method: str, suffix: str, body: dict[str, Any] | None = None) -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        alert_id = await new_alert_id(client)
        return await client.request(method, f"/alerts/{alert_id}{suffix}", json=body, headers=headers)

    return call


async def _submit(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/alerts", json=alert_body(source=f"matrix-{next(_sources)}"), headers=headers)


def _plain(method: str, path: str, body: dict[str, Any] | None = None) -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        return await client.request(method, path, json=body, headers=headers)

    return call


SILENCE = {
    "matchers": [{"name": "source", "value": "nowhere"}],
    "duration_minutes": 5,
    "created_by": "a",
    "comment": "c",
}
HOOK = {
    "version": "4", "status": "firing", "receiver": "alerts", "groupKey": "g", "truncatedAlerts": 0,
    "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
    "alerts": [{"status": "firing", "labels": {"alertname": "Down", "instance": "h1"}, "annotations": {},
                "startsAt": "2026-01-05T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://p", "fingerprint": "abc123"}],
}  # fmt: skip


def _with_silence(method: str) -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        made = await client.post("/silences", json=SILENCE, headers=bearer(KEYS["admin"]))
        assert made.status_code == 201, made.text
        return await client.request(method, f"/silences/{made.json()['id']}", headers=headers)

    return call


async def _first_beat(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post(f"/heartbeats/matrix-{next(_sources)}", headers=headers)


def _with_heartbeat(method: str) -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        name = f"matrix-{next(_sources)}"
        made = await client.post(f"/heartbeats/{name}", headers=bearer(KEYS["admin"]))
        assert made.status_code == 201, made.text
        return await client.request(method, f"/heartbeats/{name}", headers=headers)

    return call


async def _new(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    made = await client.post(path, json=body, headers=bearer(KEYS["admin"]))
    assert made.status_code == 201, made.text
    found: str = made.json()["id"]
    return found


async def _new_user(client: httpx.AsyncClient) -> str:
    return await _new(client, "/users", {"name": f"matrix-{next(_sources)}"})


async def _new_schedule(client: httpx.AsyncClient) -> str:
    return await _new(client, "/schedules", {"name": f"matrix-{next(_sources)}", "time_zone": "UTC"})


def _with_user(method: str, body: dict[str, Any] | None = None, suffix: str = "") -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        path = f"/users/{await _new_user(client)}{suffix}"
        return await client.request(method, path, json=body, headers=headers)

    return call


def _with_schedule(method: str, suffix: str = "", body: dict[str, Any] | None = None) -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        path = f"/schedules/{await _new_schedule(client)}{suffix}"
        return await client.request(method, path, json=body, headers=headers)

    return call


def _policy_body() -> dict[str, Any]:
    return {"name": f"matrix-{next(_sources)}", "steps": [{"after_minutes": 0, "notify": ["console"]}]}


def _with_policy(method: str, body: dict[str, Any] | None = None) -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        path = f"/escalation-policies/{await _new(client, '/escalation-policies', _policy_body())}"
        return await client.request(method, path, json=body, headers=headers)

    return call


def _with_route(method: str, body: dict[str, Any] | None = None) -> Call:
    async def call(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        path = f"/routes/{await _new(client, '/routes', {'name': f'matrix-{next(_sources)}'})}"
        return await client.request(method, path, json=body, headers=headers)

    return call


async def _add_override(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    schedule_id, user_id = await _new_schedule(client), await _new_user(client)
    cover = {"user_id": user_id, "start": "2026-01-05T09:00:00Z", "end": "2026-01-05T10:00:00Z"}
    return await client.post(f"/schedules/{schedule_id}/overrides", json=cover, headers=headers)


async def _delete_override(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    made = await _add_override(client, bearer(KEYS["admin"]))
    assert made.status_code == 201, made.text
    override = made.json()
    return await client.delete(
        f"/schedules/{override['schedule_id']}/overrides/{override['id']}", headers=headers
    )


async def _calendar_link(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    schedule_id = await _new_schedule(client)
    made = await client.post(f"/schedules/{schedule_id}/calendar-link", headers=bearer(KEYS["admin"]))
    assert made.status_code == 200, made.text
    return await client.get(f"/schedules/{schedule_id}/calendar-link", headers=headers)


async def _user_calendar_link(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    user_id = await _new_user(client)
    made = await client.post(f"/users/{user_id}/calendar-link", headers=bearer(KEYS["admin"]))
    assert made.status_code == 200, made.text
    return await client.get(f"/users/{user_id}/calendar-link", headers=headers)


async def _import_dry_run(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/oncall/import", params={"dry_run": "true"}, content=b'team = "default"\n', headers=headers
    )


async def _sns(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    # A signed UnsubscribeConfirmation: authentic, and it changes nothing.
    signer = test_sns.shared_signer()
    message = test_sns.confirmation(
        FakeClock().now, "https://sns.us-west-2.amazonaws.com/", "UnsubscribeConfirmation"
    )
    return await client.post("/integrations/sns", json=signer.sign(message), headers=headers)


# (method, route path) -> (scope, how to call it, the success status)
SCOPE_OF: dict[tuple[str, str], tuple[str, Call, int]] = {
    ("POST", "/alerts"): ("alerts:write", _submit, 201),
    ("GET", "/alerts"): ("read", _plain("GET", "/alerts"), 200),
    ("GET", "/alerts/{alert_id}"): ("read", _with_alert("GET", ""), 200),
    ("PATCH", "/alerts/{alert_id}/acknowledge"): (
        "alerts:manage",
        _with_alert("PATCH", "/acknowledge", {"by": "alice"}),
        200,
    ),
    ("PATCH", "/alerts/{alert_id}/resolve"): (
        "alerts:manage",
        _with_alert("PATCH", "/resolve", {"resolved_by": "alice"}),
        200,
    ),
    ("PATCH", "/alerts/{alert_id}/status"): (
        "alerts:manage",
        _with_alert("PATCH", "/status", {"status": "in_progress", "by": "alice"}),
        200,
    ),
    ("POST", "/escalation/tick"): ("alerts:manage", _plain("POST", "/escalation/tick"), 200),
    ("GET", "/escalation/policy"): ("read", _plain("GET", "/escalation/policy"), 200),
    ("GET", "/channels"): ("read", _plain("GET", "/channels"), 200),
    ("POST", "/channels/{name}/test"): ("alerts:manage", _plain("POST", "/channels/console/test"), 202),
    ("GET", "/stats"): ("read", _plain("GET", "/stats"), 200),
    ("GET", "/metrics"): ("read", _plain("GET", "/metrics"), 200),
    ("POST", "/silences"): ("alerts:manage", _plain("POST", "/silences", SILENCE), 201),
    ("GET", "/silences"): ("read", _plain("GET", "/silences"), 200),
    ("GET", "/silences/{silence_id}"): ("read", _with_silence("GET"), 200),
    ("DELETE", "/silences/{silence_id}"): ("alerts:manage", _with_silence("DELETE"), 200),
    ("POST", "/heartbeats/{name}"): ("alerts:write", _first_beat, 201),
    ("GET", "/heartbeats"): ("read", _plain("GET", "/heartbeats"), 200),
    ("GET", "/heartbeats/{name}"): ("read", _with_heartbeat("GET"), 200),
    ("DELETE", "/heartbeats/{name}"): ("alerts:manage", _with_heartbeat("DELETE"), 200),
    ("POST", "/integrations/alertmanager"): (
        "alerts:write",
        _plain("POST", "/integrations/alertmanager", HOOK),
        200,
    ),
    ("POST", "/integrations/sns"): ("alerts:write", _sns, 200),
    ("POST", "/users"): (
        "oncall:manage",
        lambda c, h: c.post("/users", json={"name": f"m-{next(_sources)}"}, headers=h),
        201,
    ),
    ("GET", "/users"): ("read", _plain("GET", "/users"), 200),
    ("GET", "/users/{user_id}"): ("read", _with_user("GET"), 200),
    ("PATCH", "/users/{user_id}"): ("oncall:manage", _with_user("PATCH", {"full_name": "M"}), 200),
    ("DELETE", "/users/{user_id}"): ("oncall:manage", _with_user("DELETE"), 200),
    ("POST", "/schedules"): (
        "oncall:manage",
        lambda c, h: c.post(
            "/schedules", json={"name": f"m-{next(_sources)}", "time_zone": "UTC"}, headers=h
        ),
        201,
    ),
    ("GET", "/schedules"): ("read", _plain("GET", "/schedules"), 200),
    ("GET", "/schedules/{schedule_id}"): ("read", _with_schedule("GET"), 200),
    ("PATCH", "/schedules/{schedule_id}"): (
        "oncall:manage",
        _with_schedule("PATCH", "", {"description": "d"}),
        200,
    ),
    ("DELETE", "/schedules/{schedule_id}"): ("oncall:manage", _with_schedule("DELETE"), 200),
    ("POST", "/schedules/{schedule_id}/overrides"): ("oncall:manage", _add_override, 201),
    ("GET", "/schedules/{schedule_id}/overrides"): ("read", _with_schedule("GET", "/overrides"), 200),
    ("DELETE", "/schedules/{schedule_id}/overrides/{override_id}"): ("oncall:manage", _delete_override, 200),
    ("GET", "/schedules/{schedule_id}/oncall"): ("read", _with_schedule("GET", "/oncall"), 200),
    ("GET", "/schedules/{schedule_id}/shifts"): ("read", _with_schedule("GET", "/shifts"), 200),
    ("POST", "/schedules/{schedule_id}/calendar-link"): (
        "oncall:manage",
        _with_schedule("POST", "/calendar-link"),
        200,
    ),
    ("GET", "/schedules/{schedule_id}/calendar-link"): ("read", _calendar_link, 200),
    ("POST", "/users/{user_id}/calendar-link"): (
        "oncall:manage",
        _with_user("POST", suffix="/calendar-link"),
        200,
    ),
    ("GET", "/users/{user_id}/calendar-link"): ("read", _user_calendar_link, 200),
    ("GET", "/oncall/export"): ("read", _plain("GET", "/oncall/export"), 200),
    ("POST", "/oncall/import"): ("oncall:manage", _import_dry_run, 200),
    ("POST", "/escalation-policies"): (
        "oncall:manage",
        lambda c, h: c.post("/escalation-policies", json=_policy_body(), headers=h),
        201,
    ),
    ("GET", "/escalation-policies"): ("read", _plain("GET", "/escalation-policies"), 200),
    ("GET", "/escalation-policies/{policy_id}"): ("read", _with_policy("GET"), 200),
    ("PATCH", "/escalation-policies/{policy_id}"): (
        "oncall:manage",
        _with_policy("PATCH", {"description": "d"}),
        200,
    ),
    ("DELETE", "/escalation-policies/{policy_id}"): ("oncall:manage", _with_policy("DELETE"), 200),
    ("POST", "/routes"): (
        "oncall:manage",
        lambda c, h: c.post("/routes", json={"name": f"m-{next(_sources)}"}, headers=h),
        201,
    ),
    ("GET", "/routes"): ("read", _plain("GET", "/routes"), 200),
    ("GET", "/routes/{route_id}"): ("read", _with_route("GET"), 200),
    ("PATCH", "/routes/{route_id}"): ("oncall:manage", _with_route("PATCH", {"position": 3}), 200),
    ("DELETE", "/routes/{route_id}"): ("oncall:manage", _with_route("DELETE"), 200),
    ("POST", "/routes/test"): (
        "read",
        lambda c, h: c.post("/routes/test", json={"severity": "low"}, headers=h),
        200,
    ),
}
# The PagerDuty endpoint takes its credential in the body, as PagerDuty does
# (routing_key; see tests/integrations/test_pagerduty.py), not in a header.
# The calendar feed's credential is the signed token of its link, which
# calendar apps put in the URL (tests/oncall/test_calendar.py).
CALENDAR_FEED = ("GET", "/schedules/{schedule_id}/calendar.ics")
USER_CALENDAR_FEED = ("GET", "/users/{user_id}/calendar.ics")
# Slack's buttons are signed by the Slack app, not keyed; the signing
# channel is charged and logged (tests/api/test_slack_actions.py).
SLACK_ACTIONS = ("POST", "/integrations/slack/actions")
OPEN_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/integrations/pagerduty/v2/enqueue"),
    CALENDAR_FEED,
    USER_CALENDAR_FEED,
    SLACK_ACTIONS,
}


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_every_route_is_in_the_matrix() -> None:
    routes = _routes(create_app(load_settings()))
    unlisted = routes - set(SCOPE_OF) - OPEN_ROUTES
    assert not unlisted, f"add these routes to SCOPE_OF with the scope they need: {sorted(unlisted)}"
    assert set(SCOPE_OF) <= routes


@pytest.fixture
async def guarded(service_factory: Any) -> Any:
    # 127.0.0.1 serves the certificate that signs the SNS route's message.
    async with service_factory(api_keys=key_config(), sns_allowed_hosts=["127.0.0.1"]) as svc:
        yield svc


@pytest.mark.parametrize("route", list(SCOPE_OF), ids=lambda r: f"{r[0]} {r[1]}")
async def test_auth_matrix(guarded: Service, route: tuple[str, str]) -> None:
    scope, call, ok = SCOPE_OF[route]
    client = guarded.client

    error = assert_error_shape(await call(client, {}), 401)
    assert error["code"] == "unauthorized"
    for headers in (bearer("not-a-key"), x_api_key("not-a-key"), {"Authorization": f"Basic {KEYS[scope]}"}):
        response = await call(client, headers)
        assert_error_shape(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    if scope != "admin":
        for headers in (bearer(ALL_BUT[scope]), x_api_key(ALL_BUT[scope])):
            error = assert_error_shape(await call(client, headers), 403)
            assert error["code"] == "forbidden" and scope in str(error["message"])
    for other in SCOPES:
        if other not in (scope, "admin"):
            assert_error_shape(await call(client, bearer(KEYS[other])), 403)

    for headers in (bearer(KEYS[scope]), x_api_key(KEYS[scope]), bearer(KEYS["admin"])):
        response = await call(client, headers)
        assert response.status_code == ok, response.text


async def test_open_routes_need_no_key(guarded: Service) -> None:
    assert (await guarded.client.get("/healthz")).status_code == 200
    assert (await guarded.client.get("/readyz")).status_code == 200
    # Docs are public by default, even with keys configured.
    assert (await guarded.client.get("/openapi.json")).status_code == 200
    assert (await guarded.client.get("/docs")).status_code == 200


async def test_without_keys_the_service_is_open_and_warns(
    service_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app"):
        async with service_factory() as svc:
            response = await svc.client.post("/alerts", json=alert_body())
            assert response.status_code == 201
            assert (await svc.client.get("/alerts")).status_code == 200
    assert any("no api_keys configured" in r.getMessage() for r in caplog.records)


async def test_keys_never_reach_the_logs_but_refusals_do(
    guarded: Service, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "the-wrong-key-that-must-not-be-logged"
    with caplog.at_level(logging.INFO):
        await guarded.client.get("/alerts", headers=bearer(secret))
        await guarded.client.post("/alerts", json=alert_body(), headers=bearer(KEYS["read"]))
        await guarded.client.get("/alerts", headers=bearer(KEYS["read"]))
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert secret not in text and KEYS["read"] not in text
    refusals = [r for r in caplog.records if r.getMessage().startswith("request refused")]
    assert [r.getMessage() for r in refusals] == [
        "request refused: unknown key",
        "request refused: missing scope",
    ]
    assert refusals[1].__dict__["key_name"] == "only-read" and refusals[1].__dict__["scope"] == "alerts:write"
    [access] = [r for r in caplog.records if r.name == "app.access"]
    assert access.__dict__["key_name"] == "only-read" and access.__dict__["path"] == "/alerts"


async def test_private_docs_need_a_read_key(service_factory: Any) -> None:
    async with service_factory(api_keys=key_config(), public_docs=False) as svc:
        assert_error_shape(await svc.client.get("/openapi.json"), 401)
        for page in ("/docs", "/redoc"):  # a person is sent to sign in to the console first
            answer = await svc.client.get(page)
            assert answer.status_code == 303 and answer.headers["location"] == f"/ui/login?next={page}"
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert_error_shape(await svc.client.get(path, headers=bearer(KEYS["alerts:write"])), 403)
            assert (await svc.client.get(path, headers=bearer(KEYS["read"]))).status_code == 200
        spec = (await svc.client.get("/openapi.json", headers=x_api_key(KEYS["read"]))).json()
        assert "/alerts" in spec["paths"] and "/openapi.json" not in spec["paths"]


@pytest.mark.parametrize("public", [False, True])
async def test_metrics_access_follows_its_setting(service_factory: Any, public: bool) -> None:
    # /metrics is added by its own module; any route using MetricsAccess
    # behaves the same, so a probe route stands in for it here.
    async with service_factory(api_keys=key_config(), public_metrics=public) as svc:
        svc.app.add_api_route("/probe", lambda: {"ok": True}, dependencies=[MetricsAccess])
        anonymous = await svc.client.get("/probe")
        assert anonymous.status_code == (200 if public else 401)
        assert (await svc.client.get("/probe", headers=bearer(KEYS["read"]))).status_code == 200
        if not public:
            assert (await svc.client.get("/probe", headers=bearer(KEYS["alerts:write"]))).status_code == 403


async def test_rate_limit_per_key_with_retry_after(service_factory: Any) -> None:
    async with service_factory(api_keys=key_config(), rate_limit_per_minute=2) as svc:
        read, admin = bearer(KEYS["read"]), bearer(KEYS["admin"])
        assert [(await svc.client.get("/alerts", headers=read)).status_code for _ in range(2)] == [200, 200]
        limited = await svc.client.get("/alerts", headers=read)
        error = assert_error_shape(limited, 429)
        assert error["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        # Another key has its own bucket; unauthenticated calls spend nothing.
        assert (await svc.client.get("/alerts", headers=admin)).status_code == 200
        assert (await svc.client.get("/alerts")).status_code == 401
        assert (await svc.client.get("/healthz")).status_code == 200


async def test_a_submission_spends_one_token_whichever_path_answers_it(service_factory: Any) -> None:
    # On PostgreSQL a submission is let in below the framework; while a
    # silence is in force it goes on to the route, which must not charge again.
    async with service_factory(api_keys=key_config(), rate_limit_per_minute=3) as svc:
        write, admin = bearer(KEYS["alerts:write"]), bearer(KEYS["admin"])
        assert (await svc.client.post("/alerts", json=alert_body(), headers=write)).status_code == 201
        silence = {"matchers": [{"name": "alert_type", "value": "disk_full"}], "duration_minutes": 60,
                   "created_by": "alice", "comment": "maintenance"}  # fmt: skip
        assert (await svc.client.post("/silences", json=silence, headers=admin)).status_code == 201
        silenced = [await svc.client.post("/alerts", json=alert_body(), headers=write) for _ in range(2)]
        assert [r.status_code for r in silenced] == [200, 200]
        assert silenced[-1].json()["silenced"] is True
        assert_error_shape(await svc.client.post("/alerts", json=alert_body(), headers=write), 429)


async def test_rate_limit_in_open_mode_is_per_client_address(service_factory: Any) -> None:
    async with service_factory(rate_limit_per_minute=1) as svc:
        assert (await svc.client.get("/alerts")).status_code == 200
        limited = await svc.client.get("/alerts")
        assert_error_shape(limited, 429)
        assert limited.headers["Retry-After"] == "60"
    assert svc.app.state.rate_limiter._buckets.keys() == {"anonymous@127.0.0.1"}


def test_token_bucket_refills_at_the_configured_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(per_minute=60, burst=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert refused.value.headers == {"Retry-After": "1"}
    limiter.check("b")  # one bucket per caller
    now[0] += 1.0
    limiter.check("a")  # one token back after a second at 60/min
    with pytest.raises(RateLimited):
        limiter.check("a")
    now[0] += 100.0
    for _ in range(3):  # refills up to the burst, not beyond
        limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.check("a")


def test_rate_limit_is_off_by_default() -> None:
    settings = load_settings()
    assert settings.rate_limit_per_minute is None
    assert create_app(settings).state.rate_limiter is None


def test_find_key_matches_only_the_exact_key() -> None:
    keys = [ApiKey(name=n, hash=hash_key(k), scopes=["read"]) for n, k in [("a", "alpha"), ("b", "beta")]]
    assert find_key("beta", keys) is keys[1]
    assert find_key("alpha", keys) is keys[0]
    for wrong in ("Beta", "beta ", "", "alph", hash_key("beta"), "sha256:" + "0" * 64):
        assert find_key(wrong, keys) is None


def test_key_settings_are_validated_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    good = {"name": "a", "hash": hash_key("k1"), "scopes": ["read"]}
    with pytest.raises(ConfigError, match=r"api_keys\.0\.hash"):
        load_settings(api_keys=[{**good, "hash": "k1"}])
    with pytest.raises(ConfigError, match=r"api_keys\.0\.scopes"):
        load_settings(api_keys=[{**good, "scopes": ["everything"]}])
    with pytest.raises(ConfigError, match="used twice"):
        load_settings(api_keys=[good, {**good, "hash": hash_key("k2")}])
    with pytest.raises(ConfigError, match="same hash"):
        load_settings(api_keys=[good, {**good, "name": "b"}])
    monkeypatch.setenv("ALERTS_API_KEYS", json.dumps([good]))
    assert load_settings().api_keys[0].name == "a"


def test_keygen_prints_a_key_and_its_hash_ready_to_configure() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app.keys", "--name", "billing", "--scope", "read", "--scope", "alerts:write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    key = lines[0].removeprefix("key:  ")
    assert len(key) >= 40 and lines[1] == f"hash: {hash_key(key)}"
    toml = out.split("# TOML (alerts.toml):\n")[1].split("\n\n")[0]
    configured = load_settings(**tomllib.loads(toml))
    assert configured.api_keys[0].name == "billing"
    assert configured.api_keys[0].scopes == ["read", "alerts:write"]
    assert find_key(key, configured.api_keys) is configured.api_keys[0]
    env_line = next(line for line in lines if line.startswith("ALERTS_API_KEYS="))
    assert json.loads(env_line.split("=", 1)[1].strip("'"))[0]["hash"] == hash_key(key)
    second = subprocess.run(
        [sys.executable, "-m", "app.keys"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert second.splitlines()[0] != lines[0]


def test_compose_configures_keys_and_its_demo_key_works(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["alerts"]
    inside = service["environment"]["ALERTS_CONFIG_FILE"]
    [mount] = [v for v in service["volumes"] if v.split(":")[1] == inside]
    config = ROOT / mount.split(":")[0]
    monkeypatch.setenv("ALERTS_CONFIG_FILE", str(config))
    settings = load_settings(database_url=service["environment"]["ALERTS_DATABASE_URL"])
    assert [k.name for k in settings.api_keys] == ["demo-admin"]
    demo_key = re.search(r"Bearer (\S+)'", config.read_text())
    assert demo_key is not None and find_key(demo_key.group(1), settings.api_keys) is settings.api_keys[0]
    assert settings.rate_limit_per_minute is None  # set by the compose environment, not the file
    assert float(service["environment"]["ALERTS_RATE_LIMIT_PER_MINUTE"]) > 0


# --- one gate ---------------------------------------------------------------------

PAGERDUTY = ("POST", "/integrations/pagerduty/v2/enqueue")


async def _pagerduty(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    """The key travels in the body as routing_key, as PagerDuty sends it."""
    key = headers.get("X-API-Key") or headers.get("Authorization", "").removeprefix("Bearer ")
    event = {
        "routing_key": key or "none",
        "event_action": "trigger",
        "payload": {"summary": "s", "source": f"gate-{next(_sources)}", "severity": "error"},
    }
    return await client.post(PAGERDUTY[1], json=event)


# Every route a key opens, with the header-less PagerDuty route among them.
GATED = {**SCOPE_OF, PAGERDUTY: ("alerts:write", _pagerduty, 202)}


def test_every_route_but_the_probes_passes_the_gate() -> None:
    routes = _routes(create_app(load_settings()))
    # The calendar feed is let in by its link's token, then charged and
    # logged under the link's name (tests/oncall/test_calendar.py).
    assert routes - set(GATED) == {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        CALENDAR_FEED,
        USER_CALENDAR_FEED,
        SLACK_ACTIONS,
    }


@pytest.mark.parametrize("route", list(GATED), ids=lambda r: f"{r[0]} {r[1]}")
async def test_every_route_is_rate_limited_and_logged_by_key(
    service_factory: Any, route: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The gate is one: the same key, scope, rate limit and access line
    whichever way the key arrives."""
    scope, call, ok = GATED[route]
    admin = {"name": "setup", "hash": hash_key(KEYS["admin"]), "scopes": ["admin"]}
    only = {"name": "gated", "hash": hash_key(KEYS[scope]), "scopes": [scope]}
    # A burst of three: the setup of the widest route (an override to delete:
    # a schedule, a user, the override) takes three calls of the setup key.
    settings = {"api_keys": [admin, only], "rate_limit_per_minute": 1, "rate_limit_burst": 3}
    settings["sns_allowed_hosts"] = ["127.0.0.1"]  # where the SNS route's certificate is served
    async with service_factory(**settings) as svc:
        caplog.set_level(logging.INFO, logger="app.access")
        first = await call(svc.client, bearer(KEYS[scope]))
        assert first.status_code == ok, first.text
        lines = [r for r in caplog.records if r.name == "app.access" and r.__dict__["key_name"] == "gated"]
        assert [r.__dict__["method"] for r in lines] == [route[0]]
        # The limit is charged at the gate, before the handler: an unknown id
        # spends it as well as a real one.
        nil = uuid.UUID(int=0)
        ids = {"alert_id": nil, "silence_id": nil, "user_id": nil, "schedule_id": nil, "override_id": nil,
               "policy_id": nil, "route_id": nil}  # fmt: skip
        path = route[1].format(name="console", **ids)
        for _ in range(3):  # the burst of three is spent by the first call and the next two
            if route == PAGERDUTY:
                last = await call(svc.client, bearer(KEYS[scope]))
            else:
                last = await svc.client.request(route[0], path, json={}, headers=bearer(KEYS[scope]))
        assert last.status_code == 429, last.text
        assert "Retry-After" in last.headers
