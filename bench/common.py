"""What the benchmarks share: the database they use, and how they report."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config

from app.db.pg_ingest import plain_dsn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCH_URL = os.environ.get(
    "ALERTS_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@localhost:5432/alerts_bench"
)


async def _recreate(url: str) -> None:
    dsn = plain_dsn(url)
    base, _, name = dsn.rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def _migrate(url: str) -> str:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    return url


def fresh_database(url: str = BENCH_URL) -> str:
    """An empty database at `url` with the migrations applied."""
    asyncio.run(_recreate(url))
    return _migrate(url)


def fresh_sqlite(directory: Path) -> str:
    """An empty SQLite database in `directory` with the migrations applied."""
    return _migrate(f"sqlite+aiosqlite:///{directory / 'bench.db'}")


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "postgres": pg}


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "at": datetime.now(UTC).isoformat(), "machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
