"""Outages and crashes, on a real server process against PostgreSQL.

The server is uvicorn in a subprocess. Its database connection goes through a
TCP proxy that the test cuts (the host is gone: connections drop, new ones are
refused) or stalls (a partition: bytes stop, only timeouts can tell), while
the PostgreSQL server keeps running for everyone else. The crash test kills
the server with SIGKILL while notifications are in flight to a slow receiver
and others wait their turn, then starts it again: every notification arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from app.api.auth import hash_key
from tests.conftest import truncate
from tests.helpers import alert_body, wait_for
from tests.peers import HttpReceiver
from tests.server import ServerProcess, TcpProxy

ADMIN_KEY = "resilience-admin-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def server_env(tmp_path: Path, database_url: str, receiver: HttpReceiver, **extra: str) -> dict[str, str]:
    config = tmp_path / "alerts.toml"
    config.write_text(
        f"""
default_channels = ["hooks"]
[channels.hooks]
type = "webhook"
url = "{receiver.url}/hook"
timeout_seconds = 10

[[api_keys]]
name = "ops"
hash = "{hash_key(ADMIN_KEY)}"
scopes = ["admin"]
"""
    )
    return {
        "ALERTS_CONFIG_FILE": str(config),
        "ALERTS_DATABASE_URL": database_url,
        "ALERTS_ENABLE_ESCALATION": "false",
        "ALERTS_DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
        "ALERTS_DATABASE_STATEMENT_TIMEOUT_SECONDS": "2",
        "ALERTS_DELIVERY_POLL_SECONDS": "0.2",
        "ALERTS_RETRY_BASE_SECONDS": "0.1",
        "ALERTS_RETRY_MAX_SECONDS": "0.5",
        "ALERTS_MAX_ATTEMPTS": "10",
        "ALERTS_LOG_LEVEL": "info",
        "ALERTS_DELIVERY_LEASE_SECONDS": "2",
        **extra,
    }


@pytest.fixture
async def pg(postgresql_url: str) -> str:
    await truncate(postgresql_url)
    return postgresql_url


@pytest.fixture
def proxy(pg: str) -> Iterator[TcpProxy]:
    target = urlsplit(pg)
    tcp = TcpProxy(target.hostname or "localhost", target.port or 5432)
    yield tcp
    tcp.close()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as http:
        yield http


async def notification_rows(
    client: httpx.AsyncClient, base: str, alert_ids: list[str]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for alert_id in alert_ids:
        response = await client.get(f"{base}/alerts/{alert_id}")
        assert response.status_code == 200, response.text
        rows += response.json()["notifications"]
    return rows


def delivered_ids(receiver: HttpReceiver) -> list[str]:
    return [r.headers["idempotency-key"] for r in receiver.requests]


@pytest.mark.parametrize("fault", ["cut", "stall"])
async def test_database_outage_answers_503_quickly_and_recovers_by_itself(
    pg: str,
    proxy: TcpProxy,
    servers: list[ServerProcess],
    client: httpx.AsyncClient,
    http_receiver: HttpReceiver,
    tmp_path: Path,
    fault: str,
) -> None:
    server = ServerProcess(
        server_env(tmp_path, through(pg, proxy.port), http_receiver), tmp_path / "server.log"
    )
    servers.append(server)
    server.start()
    base = server.url

    before = []
    for i in range(5):
        response = await client.post(f"{base}/alerts", json=alert_body(source=f"before-{i}"))
        assert response.status_code == 201, response.text
        before.append(response.json()["id"])
    await wait_for(lambda: _has(http_receiver, 5))
    # One more, whose notification is still in flight when the database goes.
    http_receiver.answer(delay=1.5)
    response = await client.post(f"{base}/alerts", json=alert_body(source="in-flight"))
    assert response.status_code == 201
    before.append(response.json()["id"])
    await wait_for(lambda: _has(http_receiver, 6))

    getattr(proxy, fault)()
    started = time.monotonic()
    refused = await client.post(f"{base}/alerts", json=alert_body(source="during"))
    write_seconds = time.monotonic() - started
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "database_unavailable" and refused.headers["Retry-After"]
    # Quick means bounded by the configured timeouts (1 s connect, 2 s
    # statement, plus a reconnect), not by however long the outage lasts.
    assert write_seconds < 10, write_seconds
    print(f"\n{fault}: POST /alerts answered 503 in {write_seconds * 1000:.0f} ms")
    ack = await client.patch(f"{base}/alerts/{before[0]}/acknowledge", json={"by": "alice"})
    assert ack.status_code == 503
    ready = await client.get(f"{base}/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert (await client.get(f"{base}/healthz")).status_code == 200
    http_receiver.answer()
    await asyncio.sleep(1.0)  # the outage lasts a while: workers fail and back off meanwhile

    proxy.restore()

    async def ready_again() -> bool:
        return (await client.get(f"{base}/readyz")).status_code == 200

    await wait_for(ready_again, timeout=30)
    response = await client.post(f"{base}/alerts", json=alert_body(source="after"))
    assert response.status_code == 201, response.text
    after = response.json()["id"]
    ack = await client.patch(f"{base}/alerts/{before[0]}/acknowledge", json={"by": "alice"})
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"

    listed = (await client.get(f"{base}/alerts", params={"limit": 100})).json()["items"]
    assert {a["id"] for a in listed} == {*before, after}  # nothing accepted was lost, nothing half-written

    async def all_sent() -> bool:
        rows = await notification_rows(client, base, [*before, after])
        return len(rows) == 7 and all(r["status"] == "sent" for r in rows)

    await wait_for(all_sent, timeout=30)
    rows = await notification_rows(client, base, [*before, after])
    assert {r["id"] for r in rows} <= set(delivered_ids(http_receiver))
    assert server.proc is not None and server.proc.poll() is None  # never restarted
    log = server.log(tail=None)
    assert "delivery: database unavailable" in log and "retrying in" in log  # backed off, then resumed


async def _has(receiver: HttpReceiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def test_kill_9_mid_delivery_then_restart_delivers_every_notification(
    pg: str,
    servers: list[ServerProcess],
    client: httpx.AsyncClient,
    http_receiver: HttpReceiver,
    tmp_path: Path,
) -> None:
    env = server_env(
        tmp_path,
        pg,
        http_receiver,
        ALERTS_DELIVERY_CONCURRENCY="2",
    )
    server = ServerProcess(env, tmp_path / "server.log")
    servers.append(server)
    server.start()
    base = server.url

    http_receiver.answer(delay=30)  # slow: attempts are in flight when the server dies
    alert_ids = []
    for i in range(8):
        response = await client.post(f"{base}/alerts", json=alert_body(source=f"crash-{i}"))
        assert response.status_code == 201, response.text
        alert_ids.append(response.json()["id"])
    await wait_for(lambda: _has(http_receiver, 2))
    acked = await client.patch(f"{base}/alerts/{alert_ids[0]}/acknowledge", json={"by": "alice"})
    assert acked.status_code == 200

    rows = await notification_rows(client, base, alert_ids)
    statuses = sorted(r["status"] for r in rows)
    # Two in flight (the concurrency), possibly a few more claimed ahead, the
    # rest waiting; none delivered yet.
    assert len(statuses) == 8 and set(statuses) == {"sending", "pending"}, statuses
    assert statuses.count("sending") >= 2, statuses

    server.kill()
    http_receiver.answer()  # the receiver is quick again
    server.start()

    async def all_sent() -> bool:
        found = await notification_rows(client, base, alert_ids)
        return len(found) == 8 and all(r["status"] == "sent" for r in found)

    await wait_for(all_sent, timeout=60)
    rows = await notification_rows(client, base, alert_ids)
    ids = {r["id"] for r in rows}
    received = delivered_ids(http_receiver)
    assert set(received) == ids  # every one arrived; dedupe by Idempotency-Key
    assert len(received) >= len(ids)  # at least once: the two in flight may arrive twice
    bodies = [json.loads(r.body) for r in http_receiver.requests]
    assert {b["alert"]["id"] for b in bodies} == set(alert_ids)

    detail = (await client.get(f"{base}/alerts/{alert_ids[0]}")).json()
    assert detail["status"] == "acknowledged" and detail["acknowledged_by"] == "alice"
    assert server.starts == 2
