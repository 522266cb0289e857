"""Real peers for the adapters: an HTTP receiver and an SMTP server, both local.

Both run in their own threads, so they work whatever event loop (or loop
scope) a test uses, and a receiver told to hang really holds the socket open
while the client's timeout fires.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from app.notifiers.base import Notification

ALERT_ID = "0b6f9c52-5d8e-4c51-9a3e-2a9d1f1c7e01"
SMTP_USER = "alerts"
SMTP_PASSWORD = "hunter2-smtp"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- notifications -----------------------------------------------------------


def sample_alert(**overrides: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "id": ALERT_ID,
        "fingerprint": "f" * 64,
        "alert_type": "disk_full",
        "severity": "critical",
        "message": "Disk <b>97%</b> full & rising\nsecond line",
        "source": "db-1",
        "labels": {"env": "prod", "mount": "/var"},
        "status": "open",
        "escalation_level": 3,
        "occurrences": 4,
        "first_seen_at": "2024-05-01T10:00:00+00:00",
    }
    alert.update(overrides)
    return alert


MakeNotification = Callable[..., Notification]


@pytest.fixture
def make_notification() -> MakeNotification:
    def make(
        *,
        channel: str = "ops",
        reason: str = "escalation",
        level: int = 3,
        test: bool = False,
        alert_url: str | None = f"http://alerts.example/alerts/{ALERT_ID}",
        **alert_fields: Any,
    ) -> Notification:
        """A notification for sample_alert(**alert_fields), or a channel test."""
        return Notification(
            id=uuid.uuid4(),
            channel=channel,
            reason=reason,
            level=level,
            created_at=datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
            alert=None if test else sample_alert(**alert_fields),
            alert_url=None if test else alert_url,
        )

    return make


@pytest.fixture
def notification(make_notification: MakeNotification) -> Notification:
    return make_notification()


@pytest_asyncio.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


# --- HTTP receiver -------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes  # the raw bytes, as signed by the sender


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class HttpReceiver:
    """Records every request; answers each with the current `Reply`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.reply = Reply()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # A client that gave up mid-reply is expected here, not a test failure.
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(
        self,
        status: int = 200,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"ok",
        delay: float = 0.0,
    ) -> None:
        self.reply = Reply(status, headers or {}, body, delay)

    def close(self) -> None:
        self._closing.set()  # wakes handlers told to hang
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            method=self.command,
                            path=self.path,
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                        )
                    )
                reply = receiver.reply
                if reply.delay and receiver._closing.wait(reply.delay):
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


# --- SMTP server ---------------------------------------------------------------


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool


class SmtpRecorder:
    """aiosmtpd handler + authenticator that records what arrived."""

    def __init__(self, refuse: set[str], data_delay: float) -> None:
        self.refuse = refuse
        self.data_delay = data_delay
        self.delivered: list[Delivered] = []
        self.logins: list[tuple[str, str, bool]] = []  # mechanism, user, accepted

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.delivered.append(
            Delivered(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=parsed,
                tls=session.ssl is not None,
            )
        )
        return "250 2.0.0 Ok: queued as 42"

    def authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SMTP_PASSWORD.encode()
        )
        user = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?"
        self.logins.append((mechanism, user, ok))
        return AuthResult(success=ok)


@dataclass
class SmtpServer:
    port: int
    recorder: SmtpRecorder


StartSmtp = Callable[..., SmtpServer]


@pytest.fixture
def smtp_server() -> Iterator[StartSmtp]:
    """Call it to start a server: smtp_server(refuse=..., **aiosmtpd kwargs)."""
    controllers: list[Controller] = []

    def start(
        *, refuse: set[str] | None = None, data_delay: float = 0.0, **kwargs: Any
    ) -> SmtpServer:
        recorder = SmtpRecorder(refuse or set(), data_delay)
        if kwargs.get("authenticator") is True:
            kwargs["authenticator"] = recorder.authenticate
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, recorder)

    yield start
    for controller in controllers:
        controller.stop()


# --- TLS ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        # Trusts exactly this certificate, with hostname checking left on.
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", str(key), "-out", str(cert), "-days", "1",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a test certificate with openssl: {exc}")
    return TlsFiles(cert, key)
