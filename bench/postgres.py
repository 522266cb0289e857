"""A private PostgreSQL for the benchmarks, or the one you configure.

ALERTS_BENCH_POSTGRES_URL names a server to use. Without it, a throwaway
cluster is created with the machine's initdb in a temporary directory,
listening on 127.0.0.1 only, and removed afterwards: the figures then do not
depend on whatever else a shared server is doing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: float(p.parent.name))
    if not versions:
        raise SystemExit("PostgreSQL server binaries not found: install the postgresql package")
    return versions[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    # initdb refuses to run as root; run the server as the postgres user then.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def private_postgres() -> Iterator[str]:
    """Yield a URL of a fresh server; stop and delete it on exit."""
    configured = os.environ.get("ALERTS_BENCH_POSTGRES_URL")
    if configured:
        yield configured
        return
    bindir = _bindir()
    directory = Path(tempfile.mkdtemp(prefix="alerts-bench-pg-"))
    data = directory / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=300 "
        "-c shared_buffers=512MB -c work_mem=16MB -c maintenance_work_mem=256MB"
    )
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(directory / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/alerts_bench"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)
