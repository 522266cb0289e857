"""The commands that act on this machine, not on a running service:
serve, migrate and keygen. Heavy imports stay inside each function so the
client commands start fast."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path


def generate_key() -> tuple[str, str]:
    """A new API key and its `sha256:<hex>` hash, the form settings.api_keys holds."""
    key = secrets.token_urlsafe(32)
    return key, "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def alembic_ini() -> Path:
    """alembic.ini in the working directory (an install, the image), else the
    source checkout this package lives in."""
    for candidate in (Path.cwd() / "alembic.ini", Path(__file__).resolve().parents[2] / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found: run from the directory that holds it and migrations/")


def migrate(database_url: str | None = None) -> str:
    """Apply every migration (alembic upgrade head); returns the database URL used."""
    from alembic import command
    from alembic.config import Config

    from app.settings import load_settings

    ini = alembic_ini()
    config = Config(str(ini))
    config.set_main_option("script_location", str(ini.parent / "migrations"))
    url = database_url or load_settings().database_url
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
    return url


def serve(*, host: str, port: int, workers: int, run_migrations: bool) -> None:
    import uvicorn

    from app.logs import uvicorn_log_config
    from app.settings import load_settings

    settings = load_settings()  # a configuration error stops here, with the key named
    if "public_url" not in settings.model_fields_set:
        # Notification links point at this server unless told otherwise; the
        # workers read it from the environment like any setting.
        os.environ["ALERTS_PUBLIC_URL"] = default_public_url(host, port)
    if run_migrations:
        migrate()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=uvicorn_log_config(settings.log_format),
        access_log=False,  # app.access logs each request, in our format
    )


def default_public_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server bound to host:port."""
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"
