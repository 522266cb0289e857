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


# Connection limits for `alerts serve` (the image passes the same values to
# uvicorn in the Dockerfile's CMD).
#
# limit_concurrency: open connections (or running requests) per worker past
# which a new request is answered 503 at once instead of being queued behind
# the others. uvicorn still accepts the connection (it holds one descriptor
# until the 503 is sent), so this bounds the work and the memory, not the
# sockets; in production the proxy in front (deploy/nginx.conf) bounds those.
# 1000 is far above what the proxy's keep-alive pool and the requests in
# flight need, and far below a container's descriptor limit.
DEFAULT_LIMIT_CONCURRENCY = 1000
# backlog: connections the kernel completes and queues before uvicorn accepts
# them (listen(2); capped by net.core.somaxconn). uvicorn's own default is
# 2048 too: enough for a burst of reconnects after a restart.
DEFAULT_BACKLOG = 2048
# timeout_keep_alive: seconds an idle keep-alive connection stays open.
# uvicorn's default; clients connecting straight to the server get no more.
# Behind the proxy the image uses 75, longer than the proxy's upstream
# keepalive_timeout (60 s), so that the proxy, not uvicorn, closes an idle
# connection and never sends a request on one uvicorn is closing.
DEFAULT_TIMEOUT_KEEP_ALIVE = 5
# timeout_graceful_shutdown: on SIGTERM, seconds the requests in flight get
# to finish before uvicorn cancels them. Without it a stop waits for every
# open response, and the console's live streams (app/ui/live.py) stay open up
# to 25 s each; cut, the browsers reconnect by themselves (to another replica
# behind the proxy).
DEFAULT_TIMEOUT_GRACEFUL_SHUTDOWN = 10


def serve(
    *,
    host: str,
    port: int,
    workers: int,
    run_migrations: bool,
    limit_concurrency: int | None = DEFAULT_LIMIT_CONCURRENCY,
    backlog: int = DEFAULT_BACKLOG,
    timeout_keep_alive: int = DEFAULT_TIMEOUT_KEEP_ALIVE,
    forwarded_allow_ips: str | None = None,
) -> None:
    """Run uvicorn. forwarded_allow_ips: the proxies whose X-Forwarded-For and
    X-Forwarded-Proto are believed (None: uvicorn's FORWARDED_ALLOW_IPS
    environment variable, else 127.0.0.1)."""
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
        limit_concurrency=limit_concurrency,
        backlog=backlog,
        timeout_keep_alive=timeout_keep_alive,
        timeout_graceful_shutdown=DEFAULT_TIMEOUT_GRACEFUL_SHUTDOWN,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_config=uvicorn_log_config(settings.log_format),
        access_log=False,  # app.access logs each request, in our format
    )


def default_public_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches a server bound to host:port."""
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"
