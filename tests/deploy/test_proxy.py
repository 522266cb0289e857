"""The production front: deploy/nginx.conf, as shipped, in front of a real
server process started with the image's own CMD.

Only the lines the file marks `# [local: ...]` are rewritten (the server's
address, the listening port, the pid, log and temporary paths, and the
`user`), so what is tested is the file docker-compose.yml mounts. Then:
thousands of clients that never finish their headers do not keep /healthz
from answering and are dropped after the shipped client_header_timeout; a
client address has a bounded number of requests under way; a body over the
service's max_body_bytes is refused by the proxy; and the server sees the
client's address, not the proxy's, without believing a forged header.

nginx must be installed (CI installs it). Without it the module is skipped
with a loud reason on a laptop, and fails when ALERTS_REQUIRE_POSTGRES says
this is CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from app.cli.ops import generate_key
from app.settings import Settings
from tests.conftest import REQUIRE_POSTGRES, ROOT
from tests.deploy.test_locks import dockerfile
from tests.live import stop_process
from tests.peers import free_port

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
BIN = Path(sys.executable).parent
SLOW_CLIENTS = 5_000
HEADER_LINE_EVERY_SECONDS = 3.0
HEALTHZ_WITHIN_SECONDS = 1.0
DROP_MARGIN_SECONDS = 5.0
START_TIMEOUT_SECONDS = 30.0
# What the marked lines are, and how many of each the file must have: a
# marker added or lost shows here rather than as an untested difference.
MARKED = {"user": 1, "path": 8, "upstream": 1, "listen": 1}
MARK = re.compile(r"^(?P<indent>\s*)(?P<directive>\S+)(?P<args>.*?);\s*# \[local: (?P<kind>\w+)\]\s*$")


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )
    if found:
        return found
    message = "nginx NOT INSTALLED: the proxy in front of the service (deploy/nginx.conf) is NOT TESTED"
    if REQUIRE_POSTGRES:  # set by CI, which installs nginx
        pytest.fail(message)
    pytest.skip(message)


def shipped_value(directive: str) -> str:
    """The argument of a directive in the shipped file (the first one found)."""
    match = re.search(rf"^\s*{directive}\s+([^;]+);", NGINX_CONF.read_text(encoding="utf-8"), re.M)
    assert match, f"deploy/nginx.conf has no {directive}"
    return match.group(1).strip()


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert match, value
    number, unit = int(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def size_bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmM]?)", value)
    assert match, value
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]


def local_config(text: str, *, upstream_port: int, listen_port: int, tmp: Path) -> str:
    """The shipped file with its marked lines made local; nothing else changes."""
    seen = dict.fromkeys(MARKED, 0)
    lines = []
    for line in text.splitlines():
        match = MARK.match(line)
        if match is None:
            lines.append(line)
            continue
        kind, indent, directive = match["kind"], match["indent"], match["directive"]
        args = match["args"].split()
        seen[kind] += 1
        if kind == "user":
            # The image's `nginx` user does not exist here. As root, the
            # workers run as root; otherwise nginx cannot switch users at all.
            lines.append(f"{indent}user root;" if os.geteuid() == 0 else f"{indent}# user: not root")
        elif kind == "path":
            name = Path(args[0]).name
            lines.append(f"{indent}{directive} {' '.join([str(tmp / name), *args[1:]])};")
        elif kind == "upstream":
            # `resolve` (nginx >= 1.27.3) re-resolves the compose service name;
            # here the server has a fixed address.
            lines.append(f"{indent}server 127.0.0.1:{upstream_port};")
        elif kind == "listen":
            lines.append(f"{indent}listen 127.0.0.1:{listen_port} {' '.join(args[1:])};")
        else:
            raise AssertionError(f"unknown marker {kind!r} in deploy/nginx.conf")
    assert seen == MARKED, f"marked lines in deploy/nginx.conf: {seen}, expected {MARKED}"
    return "\n".join(lines) + "\n"


def raise_descriptor_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    assert soft == resource.RLIM_INFINITY or soft >= needed, (
        f"this test opens {needed} sockets; the descriptor limit is {soft} (raise `ulimit -Hn`)"
    )
    return soft


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited ({process.returncode}):\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not answer /healthz:\n{log.read_text(errors='replace')}")


def image_command(port: int) -> list[str]:
    """The Dockerfile's CMD with this machine's host and port."""
    [cmd] = [args for instruction, args in dockerfile() if instruction == "CMD"]
    argv: list[str] = json.loads(cmd)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    return [str(BIN / argv[0]), *argv[1:]]


@dataclass(frozen=True)
class Front:
    url: str  # the proxy
    port: int
    server_port: int
    server_log: Path
    nginx_log: Path


@pytest.fixture(scope="module")
def front(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    nginx = nginx_binary()
    raise_descriptor_limit(SLOW_CLIENTS + 500)  # inherited by nginx and the server
    tmp = tmp_path_factory.mktemp("proxy")
    _, digest = generate_key()
    (tmp / "alerts.toml").write_text(
        f'[[api_keys]]\nname = "probe"\nhash = "{digest}"\nscopes = ["read"]\n', encoding="utf-8"
    )
    server_port, proxy_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    for name in ("WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    env.update(
        {
            "ALERTS_DATABASE_URL": sqlite_url,
            "ALERTS_CONFIG_FILE": str(tmp / "alerts.toml"),
            "ALERTS_PUBLIC_URL": f"http://127.0.0.1:{proxy_port}",
            "ALERTS_LOG_FORMAT": "json",
            # The proxy's address, as docker-compose.yml sets it.
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
        }
    )
    server_log = tmp / "server.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(
            image_command(server_port), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_listening(server_port, server, server_log, "the server")
        conf = tmp / "nginx.conf"
        conf.write_text(
            local_config(
                NGINX_CONF.read_text(encoding="utf-8"),
                upstream_port=server_port,
                listen_port=proxy_port,
                tmp=tmp,
            ),
            encoding="utf-8",
        )
        nginx_log = tmp / "nginx.out"
        base = [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")]
        checked = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30, check=False)
        assert checked.returncode == 0, f"nginx -t refused deploy/nginx.conf:\n{checked.stderr}"
        with nginx_log.open("wb") as out:
            proxy = subprocess.Popen([*base, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_listening(proxy_port, proxy, tmp / "error.log", "nginx")
            yield Front(
                f"http://127.0.0.1:{proxy_port}", proxy_port, server_port, server_log, tmp / "error.log"
            )
        finally:
            stop_process(proxy)
    finally:
        stop_process(server)


# --- the file and the compose setup agree -------------------------------------------------


def test_the_tested_file_differs_from_the_shipped_one_only_in_marked_lines(tmp_path: Path) -> None:
    shipped = NGINX_CONF.read_text(encoding="utf-8").splitlines()
    local = local_config("\n".join(shipped), upstream_port=1, listen_port=2, tmp=tmp_path).splitlines()
    assert len(local) == len(shipped)
    changed = [a for a, b in zip(shipped, local, strict=True) if a != b]
    assert changed and all("# [local: " in line for line in changed)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in compose["services"]["proxy"]["volumes"]


def test_the_body_limit_is_the_services() -> None:
    assert (
        size_bytes(shipped_value("client_max_body_size")) == Settings.model_fields["max_body_bytes"].default
    )
    # Small enough that a slow-header client is gone quickly, and tested with its shipped value.
    assert seconds(shipped_value("client_header_timeout")) <= 15


def test_the_image_bounds_the_server_too() -> None:
    argv = image_command(8000)
    for option in ("--proxy-headers", "--limit-concurrency", "--backlog", "--timeout-keep-alive"):
        assert option in argv, option
    # The proxy closes an idle upstream connection before uvicorn does, so it
    # never sends a request on a connection being closed under it.
    upstream = NGINX_CONF.read_text(encoding="utf-8").split("upstream alerts {", 1)[1].split("}", 1)[0]
    [upstream_idle] = re.findall(r"keepalive_timeout\s+(\S+);", upstream)
    assert seconds(upstream_idle) < int(argv[argv.index("--timeout-keep-alive") + 1])


# --- slow clients ---------------------------------------------------------------------------


@dataclass
class SlowClient:
    opened: float = 0.0
    closed: float | None = None  # when the proxy closed it (EOF or reset)
    lines_sent: int = 0


async def slow_client(host: str, port: int, record: SlowClient, stop_at: float) -> None:
    """A request that never ends: the request line and Host, then one header
    line every few seconds, until the proxy closes it or the test ends."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise AssertionError(f"the proxy refused a connection: {exc!r}") from exc
    loop = asyncio.get_running_loop()
    record.opened = loop.time()
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n")
        await asyncio.sleep(random.uniform(0, HEADER_LINE_EVERY_SECONDS))  # not all at once
        while loop.time() < stop_at:
            writer.write(b"X-Slow-%d: still coming\r\n" % record.lines_sent)
            record.lines_sent += 1
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout=HEADER_LINE_EVERY_SECONDS)
            except TimeoutError:
                continue
            if not data:  # EOF; a 408 before it would arrive as data first
                record.closed = loop.time()
                return
    except (ConnectionResetError, BrokenPipeError):
        record.closed = loop.time()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def probe(url: str, local_address: str | None = None, **kwargs: object) -> tuple[httpx.Response, float]:
    """One request on a new connection; the answer and how long it took."""
    transport = httpx.HTTPTransport(local_address=local_address)
    with httpx.Client(transport=transport, timeout=10.0) as client:
        started = time.perf_counter()
        response = client.request("GET", url, **kwargs)  # type: ignore[arg-type]
        return response, time.perf_counter() - started


async def test_healthz_answers_under_thousands_of_slow_header_clients_which_are_dropped(
    front: Front,
) -> None:
    header_timeout = seconds(shipped_value("client_header_timeout"))
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + header_timeout + DROP_MARGIN_SECONDS + 30
    records = [SlowClient() for _ in range(SLOW_CLIENTS)]
    tasks: list[asyncio.Task[None]] = []
    for batch in range(0, SLOW_CLIENTS, 500):  # a burst, not a SYN flood
        tasks += [
            asyncio.create_task(slow_client("127.0.0.1", front.port, record, stop_at))
            for record in records[batch : batch + 500]
        ]
        await asyncio.sleep(0.05)
    while sum(1 for r in records if r.opened) < SLOW_CLIENTS:
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.05)
    all_open = loop.time()
    opening_took = all_open - min(r.opened for r in records)
    assert opening_took < header_timeout / 2, f"opening {SLOW_CLIENTS} connections took {opening_took:.1f} s"

    # While every one of them is open, /healthz through the proxy answers
    # from the same address (they are not counted by limit_conn: their
    # headers never end).
    timings = []
    for _ in range(5):
        response, took = await asyncio.to_thread(probe, f"{front.url}/healthz")
        assert response.status_code == 200, response.text
        timings.append(took)
        await asyncio.sleep(0.3)
    still_open = sum(1 for r in records if r.closed is None)
    probes_done = loop.time()
    assert still_open == SLOW_CLIENTS, f"only {still_open} slow clients were open during the probes"
    assert max(timings) < HEALTHZ_WITHIN_SECONDS, timings

    # The proxy drops them after client_header_timeout, counted from the
    # connection's start: the lines trickling in do not extend it.
    deadline = max(r.opened for r in records) + header_timeout + DROP_MARGIN_SECONDS
    await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))  # each ends when dropped
    dropped = [r.closed - r.opened for r in records if r.closed is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(
        f"\n{SLOW_CLIENTS} slow-header clients opened in {opening_took:.2f} s;"
        f" /healthz through the proxy meanwhile: {', '.join(f'{t * 1000:.0f} ms' for t in timings)}"
        f" (probes ended {probes_done - all_open:.1f} s after the last connection);"
        f" dropped by the proxy: {len(dropped)} of {SLOW_CLIENTS},"
        f" after {min(dropped, default=0):.1f} s / {statistics.median(dropped or [0]):.1f} s"
        f" / {max(dropped, default=0):.1f} s (min / median / max; client_header_timeout {header_timeout:g} s);"
        f" header lines sent each: up to {max(r.lines_sent for r in records)}"
    )
    assert len(dropped) == SLOW_CLIENTS, f"{SLOW_CLIENTS - len(dropped)} slow clients were still open"
    assert min(dropped) >= header_timeout - 1.0, "dropped before the header timeout"
    assert max(dropped) <= header_timeout + DROP_MARGIN_SECONDS
    assert max(r.lines_sent for r in records) >= 3  # they kept sending, and were dropped anyway
    response, _ = await asyncio.to_thread(probe, f"{front.url}/healthz")
    assert response.status_code == 200


# --- requests under way per client address ---------------------------------------------


def stalled_upload(port: int) -> socket.socket:
    """Complete headers, a body announced and never sent: a request under way."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        b"POST /alerts HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    return sock


def test_requests_under_way_are_limited_per_client_address(front: Front) -> None:
    limit = int(shipped_value("limit_conn").split()[1])
    uploads = [stalled_upload(front.port) for _ in range(limit)]
    try:
        deadline = time.monotonic() + 5
        while True:  # the proxy has read their headers once the next one is refused
            response, _ = probe(f"{front.url}/healthz")
            if response.status_code == 429 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert response.status_code == 429, response.text
        assert response.json()["code"] == "too_many_connections"
        assert response.headers["retry-after"]
        # Another address is not affected.
        other, took = probe(f"{front.url}/healthz", local_address="127.0.0.2")
        assert other.status_code == 200 and took < HEALTHZ_WITHIN_SECONDS
    finally:
        for sock in uploads:
            sock.close()
    deadline = time.monotonic() + 5
    while (again := probe(f"{front.url}/healthz")[0]).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert again.status_code == 200


# --- bodies ------------------------------------------------------------------------------------


def test_a_body_over_the_services_limit_is_refused_by_the_proxy(front: Front) -> None:
    limit = Settings.model_fields["max_body_bytes"].default
    # Announced and not sent: only the proxy can answer at once (the server
    # would get the request only once the proxy had read the whole body).
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as sock:
        sock.sendall(
            b"POST /alerts HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (limit + 1)
        )
        head = sock.recv(65536).decode(errors="replace")
    status_line, _, rest = head.partition("\r\n")
    assert status_line.split()[1] == "413", head
    assert json.loads(rest.split("\r\n\r\n", 1)[1])["code"] == "payload_too_large"  # the service's shape
    # The limit itself passes: the server decides.
    at = httpx.post(
        f"{front.url}/alerts", content=b" " * limit, headers={"content-type": "application/json"}, timeout=10
    )
    assert at.status_code != 413, at.text


# --- client addresses ---------------------------------------------------------------------


def refused_clients(log: Path) -> list[str]:
    clients = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and str(record.get("message", "")).startswith("request refused"):
                clients.append(str(record.get("client")))
    return clients


def test_the_server_sees_the_client_address_and_not_a_forged_one(front: Front) -> None:
    before = len(refused_clients(front.server_log))
    response, _ = probe(
        f"{front.url}/alerts", local_address="127.0.0.2", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert response.status_code == 401  # no key: logged with the client's address
    deadline = time.monotonic() + 5
    while len(clients := refused_clients(front.server_log)) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert clients[before:] == ["127.0.0.2"], clients[before:]
