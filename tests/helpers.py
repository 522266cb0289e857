"""Small helpers shared by the API tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


def alert_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "alert_type": "disk_full",
        "severity": "high",
        "message": "/var is 91% full",
        "source": "db-1",
        "labels": {"mount": "/var", "env": "prod"},
        "details": {"used_pct": 91},
    }
    body.update(overrides)
    return body


async def post_alert(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    return await client.post("/alerts", json=alert_body(**overrides))


async def create_alert(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await post_alert(client, **overrides)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def move(client: httpx.AsyncClient, alert_id: str, status: str, by: str = "alice") -> httpx.Response:
    return await client.patch(f"/alerts/{alert_id}/status", json={"status": status, "by": by})


async def wait_for(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0) -> None:
    """Poll `check` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
