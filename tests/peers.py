"""Real peers for tests: an HTTP receiver and an SMTP server on 127.0.0.1.

Both run in their own threads, so they work whatever event loop (or loop
scope) a test uses, and a receiver told to hang really holds the socket open
while the client's timeout fires.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER = "alerts"
SMTP_PASSWORD = "hunter2-smtp"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of new connections (one
    # per request, HTTP/1.0) then overflows it and the kernel resets some,
    # which no real receiver does. Listen like a real server.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up mid-reply is expected here, not a failure


class HttpReceiver:
    """Records every request; answers each with the current `Reply`, or with
    what `responder` makes of it (a peer with state, such as Slack's API)."""

    def __init__(self, responder: Callable[[Received], Reply] | None = None) -> None:
        self.responder = responder
        self.requests: list[Received] = []
        self.request_times: list[float] = []  # time.monotonic() at arrival
        self.reply = Reply()
        self._queued: list[Reply] = []  # answered first, in order, before `reply`
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
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

    def answer_sequence(self, statuses: Iterable[int]) -> None:
        """Answer the next requests with these statuses, then the last one forever."""
        replies = [Reply(status) for status in statuses]
        self._queued, self.reply = replies[:-1], replies[-1]

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queued.pop(0) if self._queued else self.reply

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
                received = Received(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with receiver._lock:
                    receiver.request_times.append(time.monotonic())
                    receiver.requests.append(received)
                reply = receiver.responder(received) if receiver.responder else receiver._next_reply()
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


# --- SMTP server ---------------------------------------------------------------


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    # TLS either way: from the first byte (SMTPS) or after STARTTLS; `tls`
    # above sees STARTTLS only.
    encrypted: bool = False


def _encrypted(server: SMTP) -> bool:
    """Whether this SMTP session runs over TLS now (SMTPS or after STARTTLS)."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


class SmtpRecorder:
    """aiosmtpd handler + authenticator that records what arrived."""

    def __init__(self, refuse: set[str], data_delay: float) -> None:
        self.refuse = refuse
        self.data_delay = data_delay
        self.delivered: list[Delivered] = []
        self.logins: list[tuple[str, str, bool]] = []  # mechanism, user, accepted
        self.login_tls: list[bool] = []  # per AUTH, in order: encrypted?

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
                encrypted=_encrypted(server),
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
        self.login_tls.append(_encrypted(server))
        # handled=False: let aiosmtpd send the 535 reply itself.
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    port: int
    recorder: SmtpRecorder
