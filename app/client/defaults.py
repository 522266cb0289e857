"""Where a client's settings come from when the caller gives none."""

from __future__ import annotations

import getpass
import os
import socket

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "ALERTS_URL"
KEY_ENV = "ALERTS_API_KEY"


def base_url(url: str | None = None) -> str:
    return (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def api_key(key: str | None = None) -> str | None:
    return key or os.environ.get(KEY_ENV) or None


def source() -> str:
    """Alerts name the machine they come from unless told otherwise."""
    return socket.gethostname() or "python-client"


def actor() -> str:
    """Who acknowledges or resolves, unless told: the user running the code."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "python-client"
