"""A private PgBouncer in transaction mode, in front of a PostgreSQL server.

For the tests that run through it (tests/conftest.py, `postgresql_pgbouncer_url`)
and the benchmark that compares it with the direct path (bench/run.py). It
writes pgbouncer.ini and a userlist into a directory of its own, listens on a
free port of 127.0.0.1 (no Unix socket), passes every database name through
to the server (trust authentication, the user of the server's URL), and logs
to a file, shown when it fails to start.

The ini lists no `ignore_startup_parameters`: a startup parameter PgBouncer
does not track makes it refuse the connection, which is what a production
PgBouncer does, so the tests see any the service would send.

PgBouncer refuses to run as root: as root, it drops to the postgres user
(`-u postgres`) once it has read its files.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from tests.peers import free_port

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0


def find_pgbouncer() -> str | None:
    """The pgbouncer binary: on the PATH, or where Debian puts it (/usr/sbin
    is not on every user's PATH)."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    debian = Path("/usr/sbin/pgbouncer")
    return str(debian) if debian.is_file() else None


class PgBouncer:
    """`with PgBouncer(server_url, directory) as bouncer:` the server's
    database through PgBouncer at `bouncer.url` (the same driver, user and
    database name)."""

    def __init__(
        self,
        server_url: str,
        directory: Path,
        *,
        pool_size: int = 10,
        max_client_conn: int = 1000,
        binary: str | None = None,
    ) -> None:
        self.server = make_url(server_url)
        self.directory = directory
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.binary = binary or find_pgbouncer()
        self.port = free_port()
        self.log = directory / "pgbouncer.log"
        self.url = self.server.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        self._process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        host = self.server.host or "127.0.0.1"
        host = "127.0.0.1" if host == "localhost" else host
        return "\n".join(
            [
                "[databases]",
                f"* = host={host} port={self.server.port or 5432}",
                "",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {self.directory / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                f"max_client_conn = {self.max_client_conn}",
                "",
            ]
        )

    def start(self) -> None:
        if self.binary is None:
            raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
        user = self.server.username or "postgres"
        (self.directory / "userlist.txt").write_text(f'"{user}" ""\n')
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(self.config())
        command = [self.binary, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(ini)]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._listening():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"pgbouncer did not start on 127.0.0.1:{self.port}:\n{tail}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: PgBouncer closes every connection and exits
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> PgBouncer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
