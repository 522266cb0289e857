"""Bad input and a missing database: one JSON error shape, never a stack trace."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from app.main import create_app
from app.settings import load_settings
from tests.conftest import Service
from tests.helpers import alert_body


def assert_error_shape(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert set(body) == {"code", "message", "field", "errors"}
    assert "Traceback" not in response.text
    return body


async def test_missing_and_invalid_fields_are_named(service: Service) -> None:
    body = alert_body()
    del body["source"]
    error = assert_error_shape(await service.client.post("/alerts", json=body), 422)
    assert error["field"] == "source"
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(severity="urgent")), 422)
    assert error["field"] == "severity"
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(labels={"k": 1})), 422)
    assert error["field"] == "labels.k"
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(colour="red")), 422)
    assert error["field"] == "colour"


async def test_control_characters_and_nul_bytes_are_refused(service: Service) -> None:
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(source="db\x00-1")), 422)
    assert error["field"] == "source"
    error = assert_error_shape(await service.client.post("/alerts", json=alert_body(message="a\x1bb")), 422)
    assert error["field"] == "message"


async def test_invalid_json_and_wrong_content_type(service: Service) -> None:
    response = await service.client.post(
        "/alerts", content=b"{not json", headers={"content-type": "application/json"}
    )
    error = assert_error_shape(response, 422)
    assert "JSON" in str(error["message"])
    response = await service.client.post(
        "/alerts", content=b"\xff\xfe", headers={"content-type": "application/json"}
    )
    assert_error_shape(response, 422)
    response = await service.client.post("/alerts", content=b"a=b", headers={"content-type": "text/plain"})
    assert_error_shape(response, 422)


async def test_a_body_without_a_json_content_type_or_empty_says_so(service: Service) -> None:
    body = json.dumps(alert_body()).encode()
    for headers in ({"content-type": "text/plain"}, {}):
        response = await service.client.post("/alerts", content=body, headers=headers)
        error = assert_error_shape(response, 422)
        assert error["field"] == "body"
        assert "Content-Type: application/json" in str(error["message"])
    response = await service.client.post("/alerts", content=b"", headers={"content-type": "application/json"})
    error = assert_error_shape(response, 422)
    assert error["field"] == "body" and "empty" in str(error["message"])


async def test_oversized_body_is_413_and_nothing_is_stored(service: Service) -> None:
    big = alert_body(details={"blob": "x" * (300 * 1024)})
    error = assert_error_shape(await service.client.post("/alerts", json=big), 413)
    assert error["code"] == "payload_too_large"

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 10_000

    response = await service.client.post(
        "/alerts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error_shape(response, 413)
    assert (await service.client.get("/alerts")).json()["items"] == []
    assert (await service.client.get("/healthz")).json() == {"status": "ok", "database": None}

    async def small():  # type: ignore[no-untyped-def]
        yield json.dumps(alert_body()).encode()

    # A chunked submission within the limit is taken like any other.
    response = await service.client.post(
        "/alerts", content=small(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text


async def test_unknown_route_is_404_in_the_same_shape(service: Service) -> None:
    error = assert_error_shape(await service.client.get("/nope"), 404)
    assert error["code"] == "not_found"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("url", ["postgresql+asyncpg://postgres@127.0.0.1:{port}/test"])
async def test_database_down_is_503_not_a_stack_trace(url: str) -> None:
    settings = load_settings(database_url=url.format(port=closed_port()))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            error = assert_error_shape(await client.post("/alerts", json=alert_body()), 503)
            assert error["code"] == "database_unavailable"
            assert_error_shape(await client.get("/alerts"), 503)
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            assert (await client.get("/healthz")).status_code == 200
