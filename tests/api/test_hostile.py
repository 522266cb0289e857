"""Hostile bodies and parameters: each gets a clear 4xx naming the field, none
is stored half-written, and the service is healthy after all of them.

Runs on both databases: PostgreSQL refuses NUL in text and jsonb, lone UTF-16
surrogates and NaN, so anything slipping past validation would be a 500 there.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.details import MAX_DETAILS_BYTES, MAX_DETAILS_DEPTH
from app.schemas import MAX_LABELS
from tests.api.test_errors import assert_error_shape
from tests.conftest import Service
from tests.helpers import alert_body

JSON = {"content-type": "application/json"}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


async def post_raw(svc: Service, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return await svc.client.post("/alerts", content=body, headers=headers or JSON)


async def assert_nothing_stored_and_healthy(svc: Service) -> None:
    assert (await svc.client.get("/alerts")).json()["items"] == []
    assert (await svc.client.get("/readyz")).status_code == 200
    response = await svc.client.post("/alerts", json=alert_body())
    assert response.status_code == 201, response.text


async def test_ten_mebibyte_body_is_413(service: Service) -> None:
    body = json.dumps(alert_body(details={"blob": "x" * (10 * 1024 * 1024)})).encode()
    error = assert_error_shape(await post_raw(service, body), 413)
    assert error["code"] == "payload_too_large"
    await assert_nothing_stored_and_healthy(service)


async def test_details_depth_and_size_limits_name_details(service: Service) -> None:
    ok = await service.client.post(
        "/alerts", json=alert_body(source="deep-ok", details=nested(MAX_DETAILS_DEPTH))
    )
    assert ok.status_code == 201, ok.text
    await service.client.patch(f"/alerts/{ok.json()['id']}/status", json={"status": "closed", "by": "t"})

    error = assert_error_shape(
        await service.client.post("/alerts", json=alert_body(details=nested(MAX_DETAILS_DEPTH + 1))), 422
    )
    assert error["field"] == "details" and "deep" in str(error["message"])
    lists: Any = [1]
    for _ in range(MAX_DETAILS_DEPTH + 1):
        lists = [lists]
    error = assert_error_shape(
        await service.client.post("/alerts", json=alert_body(details={"l": lists})), 422
    )
    assert error["field"] == "details"

    big = {"blob": "x" * (MAX_DETAILS_BYTES + 1)}
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(details=big)), 422)
    assert error["field"] == "details" and str(MAX_DETAILS_BYTES) in str(error["message"])
    many = {f"k{i}": i for i in range(MAX_DETAILS_BYTES // 8)}
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(details=many)), 422)
    assert error["field"] == "details"


async def test_json_nested_past_the_parser_limit_is_a_clean_4xx(service: Service) -> None:
    depth = 100_000  # deeper than Python's recursion limit, well under the body limit
    body = b'{"alert_type":"a","severity":"high","message":"m","source":"s","details":' + b"[" * depth
    body += b"]" * depth + b"}"
    response = await post_raw(service, body)
    assert 400 <= response.status_code < 500
    assert_error_shape(response, response.status_code)
    await assert_nothing_stored_and_healthy(service)


@pytest.mark.parametrize(
    ("details", "why"),
    [
        ({"a": "nul\x00byte"}, "NUL"),
        ({"nul\x00key": 1}, "NUL"),
        ({"a": ["x", {"b": "\x00"}]}, "NUL"),
        ({"a": "\ud800"}, "UTF-8"),
        ({"\udfff": 1}, "UTF-8"),
        ({"big": -812679106051502967357440}, "64 bits"),
        ({"a": [2**63]}, "64 bits"),
    ],
)
async def test_details_refuse_what_the_database_cannot_store(
    service: Service, details: dict[str, Any], why: str
) -> None:
    body = json.dumps(alert_body(details=details)).encode()  # \u escapes: valid JSON
    error = assert_error_shape(await post_raw(service, body), 422)
    assert error["field"] == "details" and why in str(error["message"])
    await assert_nothing_stored_and_healthy(service)


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
async def test_non_finite_numbers_are_refused(service: Service, number: bytes) -> None:
    body = json.dumps(alert_body(details={"v": "PLACEHOLDER"})).encode().replace(b'"PLACEHOLDER"', number)
    error = assert_error_shape(await post_raw(service, body), 422)
    assert error["field"] == "details"
    await assert_nothing_stored_and_healthy(service)


@pytest.mark.parametrize("field", ["message", "source", "alert_type", "dedup_key"])
async def test_lone_surrogates_in_text_are_refused(service: Service, field: str) -> None:
    body = json.dumps(alert_body(**{field: "a\ud800b"})).encode()
    error = assert_error_shape(await post_raw(service, body), 422)
    assert error["field"] == field
    await assert_nothing_stored_and_healthy(service)


async def test_field_names_in_errors_are_always_encodable(service: Service) -> None:
    body = json.dumps(alert_body(labels={"k\ud800": "v", "ok": "\x00"})).encode()
    response = await post_raw(service, body)
    error = assert_error_shape(response, 422)
    assert str(error["field"]).startswith("labels.")
    await assert_nothing_stored_and_healthy(service)


async def test_huge_label_sets_and_sizes(service: Service) -> None:
    too_many = {f"k{i}": "v" for i in range(MAX_LABELS + 1)}
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(labels=too_many)), 422)
    assert error["field"] == "labels"
    error = assert_error_shape(
        await service.client.post("/alerts", json=alert_body(labels={"k" * 101: "v"})), 422
    )
    assert str(error["field"]).startswith("labels")
    error = assert_error_shape(
        await service.client.post("/alerts", json=alert_body(labels={"k": "v" * 1001})), 422
    )
    assert error["field"] == "labels.k"
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(message="m" * 8001)), 422)
    assert error["field"] == "message"
    await assert_nothing_stored_and_healthy(service)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{not json", JSON),
        (b"\xff\xfe\x00", JSON),
        (b'{"alert_type": "\xc3\x28"}', JSON),
        (b"", JSON),
        (b"null", JSON),
        (b"[]", JSON),
        (b'"a string"', JSON),
        (json.dumps(alert_body()).encode(), {"content-type": "text/plain"}),
        (json.dumps(alert_body()).encode(), {"content-type": "application/x-www-form-urlencoded"}),
    ],
)
async def test_malformed_bodies_and_content_types(
    service: Service, body: bytes, headers: dict[str, str]
) -> None:
    response = await post_raw(service, body, headers)
    assert_error_shape(response, 422)
    await assert_nothing_stored_and_healthy(service)


@pytest.mark.parametrize(
    "query",
    [
        {"source": "a\x00b"},
        {"alert_type": "\x00"},
        {"cursor": "\x00"},
        {"cursor": "not-a-cursor"},
        {"since": "not-a-date"},
        {"since": "9999-12-31T23:59:59+14:00"},
        {"until": "0001-01-01T00:00:00-14:00"},
        {"limit": "1e9"},
        {"status": "\x00"},
    ],
)
async def test_hostile_query_parameters(service: Service, query: dict[str, str]) -> None:
    response = await service.client.get("/alerts", params=query)
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert_error_shape(response, 422)
    assert (await service.client.get("/readyz")).status_code == 200


async def test_nul_in_path_and_actor_fields(service: Service) -> None:
    created = await service.client.post("/alerts", json=alert_body())
    alert_id = created.json()["id"]
    error = assert_error_shape(
        await service.client.patch(f"/alerts/{alert_id}/acknowledge", json={"by": "a\x00"}), 422
    )
    assert error["field"] == "by"
    error = assert_error_shape(
        await service.client.patch(f"/alerts/{alert_id}/resolve", json={"resolved_by": "a", "notes": "\x00"}),
        422,
    )
    assert error["field"] == "notes"
    assert_error_shape(await service.client.get("/alerts/%00"), 422)
    assert_error_shape(await service.client.post("/channels/%00/test"), 404)
    detail = (await service.client.get(f"/alerts/{alert_id}")).json()
    assert detail["status"] == "open" and detail["history"][-1]["kind"] != "acknowledged"


@pytest.mark.parametrize(
    "value", ["0.5", "1700000000", "2026-01-05T09:00:00", "2026-01-05", "0001-01-01T00:00:00+14:00"]
)
async def test_date_filters_need_iso_8601_with_a_zone_in_range(service: Service, value: str) -> None:
    for name in ("since", "until"):
        error = assert_error_shape(await service.client.get("/alerts", params={name: value}), 422)
        assert error["field"] == name


async def test_method_not_allowed_lists_every_method_of_the_path(service: Service) -> None:
    response = await service.client.request("OPTIONS", "/alerts")
    assert_error_shape(response, 405)
    assert response.headers["Allow"] == "GET, POST"
    response = await service.client.delete("/alerts/5f0c5d3c-8d8e-4d0e-9c7a-3c2b1a0f9e8d")
    assert_error_shape(response, 405)
    assert response.headers["Allow"] == "GET"


# A cursor this service never issued: year 1 at +14:00, which is before
# year 1 in UTC (PostgreSQL refused to compare with it: a 500).
FORGED_CURSOR = "MDAwMS0wMS0wMVQwMDowMDowMCsxNDowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA"


async def test_a_forged_cursor_at_the_calendar_edge_is_422(service: Service) -> None:
    error = assert_error_shape(await service.client.get("/alerts", params={"cursor": FORGED_CURSOR}), 422)
    assert error["field"] == "cursor"
    await assert_nothing_stored_and_healthy(service)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"label": "env\x00=prod"}, "label"),
        ({"label": "env=prod\x00"}, "label"),
        ({"source": "db\x00"}, "source"),
        ({"cursor": "abc\x00"}, "cursor"),
    ],
)
async def test_nul_in_any_query_parameter_is_422_naming_it(
    service: Service, query: dict[str, str], field: str
) -> None:
    error = assert_error_shape(await service.client.get("/alerts", params=query), 422)
    assert error["field"] == field
    error = assert_error_shape(await service.client.get("/stats", params=query | {"source": "\x00"}), 422)
    assert error["field"] in {field, "source"}
    assert (await service.client.get("/readyz")).status_code == 200


def silence_body(**times: Any) -> dict[str, Any]:
    return {"matchers": [{"name": "source", "value": "db-1"}], "created_by": "ops", "comment": "edge"} | times


@pytest.mark.parametrize(
    ("times", "field"),
    [
        ({"starts_at": "0001-01-01T00:00:00+14:00", "ends_at": "9999-12-31T23:59:59-14:00"}, "starts_at"),
        ({"starts_at": "0001-01-01T00:00:00+14:00", "duration_minutes": 60}, "starts_at"),
        ({"ends_at": "9999-12-31T23:59:59-14:00"}, "ends_at"),
        ({"starts_at": "9999-12-31T23:00:00+00:00", "duration_minutes": 120}, "duration_minutes"),
    ],
)
async def test_silence_times_past_the_calendar_edges_are_422(
    service: Service, times: dict[str, Any], field: str
) -> None:
    error = assert_error_shape(await service.client.post("/silences", json=silence_body(**times)), 422)
    assert error["field"] == field
    assert (await service.client.get("/silences")).json() == []


async def test_silence_times_at_the_calendar_edges_are_kept(service: Service) -> None:
    body = silence_body(starts_at="0001-01-01T00:00:00+00:00", ends_at="9999-12-31T23:59:59+00:00")
    created = await service.client.post("/silences", json=body)
    assert created.status_code == 201, created.text
    read = (await service.client.get(f"/silences/{created.json()['id']}")).json()
    assert read["starts_at"].startswith("0001-01-01T00:00:00") and read["ends_at"].startswith(
        "9999-12-31T23:59:59"
    )
    assert read["state"] == "active"


@pytest.mark.parametrize("action", ["acknowledge", "resolve", "trigger"])
async def test_nul_in_a_pagerduty_dedup_key_is_400_naming_it(service: Service, action: str) -> None:
    event: dict[str, Any] = {"routing_key": "any", "event_action": action, "dedup_key": "disk\x00full"}
    if action == "trigger":
        event["payload"] = {"summary": "disk full", "source": "db-1", "severity": "error"}
    response = await service.client.post("/integrations/pagerduty/v2/enqueue", json=event)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "invalid event"
    assert any("dedup_key" in error and "NUL" in error for error in response.json()["errors"])
    await assert_nothing_stored_and_healthy(service)
