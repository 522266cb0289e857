"""Fixtures for the adapter tests: sample notifications and a test certificate.

The HTTP receiver and SMTP server themselves live in tests/peers.py and their
fixtures in tests/conftest.py, shared with the delivery tests.
"""

from __future__ import annotations

import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.notifiers.base import Notification

ALERT_ID = "0b6f9c52-5d8e-4c51-9a3e-2a9d1f1c7e01"


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
        console_url: str | None = f"http://alerts.example/ui/alerts/{ALERT_ID}",
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
            console_url=None if test else console_url,
        )

    return make


@pytest.fixture
def notification(make_notification: MakeNotification) -> Notification:
    return make_notification()


@pytest_asyncio.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


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
