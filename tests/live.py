"""The service as a real process: `alerts serve` on 127.0.0.1, a free port.

For the tests that need a server over the network: the client and the CLI,
the examples, and Alertmanager posting to us. The database is the test's
(migrated and emptied by the fixtures); channels and policy come from a TOML
file the test writes. The server's log goes to a file, shown when it fails
to start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.peers import free_port

BIN = Path(sys.executable).parent
ALERTS = BIN / "alerts"
START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class LiveService:
    url: str
    log: Path
    env: dict[str, str]  # what a client process needs: ALERTS_URL and a clean environment


def client_env(url: str, **extra: str) -> dict[str, str]:
    """The environment for a process talking to the service: no server settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    env.update({"ALERTS_URL": url, "PYTHONUNBUFFERED": "1"}, **extra)
    return env


@contextmanager
def run_service(database_url: str, tmp: Path, config: str = "", **settings: str) -> Iterator[LiveService]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config_file = tmp / "alerts.toml"
    config_file.write_text(config, encoding="utf-8")
    log = tmp / f"service-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    env.update(
        {
            "ALERTS_DATABASE_URL": database_url,
            "ALERTS_CONFIG_FILE": str(config_file),
            "ALERTS_PUBLIC_URL": url,
            "ALERTS_LOG_FORMAT": "text",
            "ALERTS_DELIVERY_POLL_SECONDS": "0.5",
            **{f"ALERTS_{k.upper()}": v for k, v in settings.items()},
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ALERTS), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    try:
        _wait_ready(url, process, log)
        yield LiveService(url, log, client_env(url))
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], *, wait_seconds: float = 10.0) -> None:
    """Terminate a test's child process, and kill it if it will not go."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=wait_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the service did not become ready:\n{log.read_text()}")


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60.0, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ALERTS), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
