"""POST /alerts under wrk, in the dedup and create shapes, against the
PostgreSQL floor measured by pgbench in the same run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import plain_dsn

HERE = Path(__file__).resolve().parent
CONNECTIONS = 32
SECONDS = 15


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    answered = int(non2xx.group(1)) if non2xx else 0  # answers other than 2xx or 3xx
    unanswered = sum(int(n) for n in sockets.groups()) if sockets else 0  # wrk's timeout is 2 s
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return {
        "requests_per_s": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": answered + unanswered,
        "non_2xx": answered,
        "socket_errors": unanswered,
        "requests": requests,
    }


def wrk(url: str, shape: str, *, seconds: int = SECONDS, connections: int = CONNECTIONS) -> dict[str, Any]:
    result = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(HERE / "ingest.lua"),
            url,
        ],
        env={**os.environ, "SHAPE": shape},
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(result.stdout)


def seed_identities(url: str, count: int = 1000) -> None:
    """The dedup shape draws from identities that already exist."""
    with httpx.Client(base_url=url, timeout=10) as client:
        for n in range(1, count + 1):
            body = {"alert_type": "bench", "severity": "low", "message": "seed", "source": f"host-{n}"}
            client.post("/alerts", json=body).raise_for_status()


async def analyze(database_url: str) -> None:
    """Statistics for the seeded table, as autovacuum gathers them within a
    minute in production. Without them the plans the service's connections
    cached on an empty table read the team's whole listing index for each
    new alert (both indexes look alike to the planner then), and `create`
    measured a third of its rate: a young table's figure, not the service's."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await conn.execute("ANALYZE alerts")
    finally:
        await conn.close()


async def prepare_floor(database_url: str) -> None:
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS bench_floor;"
            "CREATE TABLE bench_floor (fingerprint text PRIMARY KEY, occurrences int NOT NULL,"
            " last_seen_at timestamptz NOT NULL);"
            "INSERT INTO bench_floor SELECT 'host-' || i, 1, now() FROM generate_series(1, 1000) i;"
        )
    finally:
        await conn.close()


def pgbench(database_url: str, *, seconds: int = SECONDS, clients: int = CONNECTIONS) -> float:
    """Single-statement upserts per second: the floor the service is measured against."""
    dsn = plain_dsn(database_url)
    match = re.match(r"postgresql://(\w+)@([\d.]+|localhost):(\d+)/(\w+)", dsn)
    if match is None:
        raise SystemExit(f"cannot read host and port from {dsn}")
    user, host, port, name = match.groups()
    result = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
         "-f", str(HERE / "floor.sql"), "-h", host, "-p", port, "-U", user, name],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
