"""A real server process and a TCP proxy to cut, for outage and crash tests.

`ServerProcess` runs uvicorn in a subprocess, as production does, so that a
test can kill it with SIGKILL and start it again on the same database.
`TcpProxy` sits between that server and PostgreSQL: `cut()` drops every
connection and refuses new ones (the database host is gone), `stall()`
accepts connections and goes silent (a network partition: only timeouts can
tell), and `restore()` forwards again. The PostgreSQL server itself is never
touched. Both run in threads, independent of the test's event loop.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.live import stop_process
from tests.peers import free_port

ROOT = Path(__file__).resolve().parent.parent


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._mode = "forward"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut() or close()
            self._track(client)
            if self._mode == "stall":
                continue  # accepted, never answered
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                self._close(client)
                continue
            self._track(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.1)
                if self._mode != "forward":
                    if self._mode == "cut":
                        break
                    continue  # stalled: hold both ends open, move nothing
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            pass  # a socket closed under us by cut() or restore()
        finally:
            self._close(a)
            self._close(b)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()

    def _drop_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._close(sock)

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._mode = "cut"
        if self._listener is not None:
            self._close(self._listener)
            self._listener = None
        self._drop_all()

    def stall(self) -> None:
        """Keep connections open but move no byte, and accept new ones silently."""
        self._mode = "stall"

    def restore(self) -> None:
        was = self._mode
        if was == "stall":
            self._drop_all()  # the half-dead connections a partition leaves behind
        self._mode = "forward"
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.cut()


class ServerProcess:
    """`python -m uvicorn app.main:create_app --factory` on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, timeout: float = 30.0) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"--- start {self.starts}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        # Not left running: on the test's database it would claim the next
        # tests' notifications for channels only it does not know.
        self.proc.kill()
        self.proc.wait(timeout=10)
        raise AssertionError(f"server did not start in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no grace period, nothing flushed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, wait_seconds=15)

    def log(self, tail: int | None = 5000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:] if tail else text
