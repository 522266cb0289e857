"""The deployment files: migrations once per deploy, in a one-shot service,
before a server that restarts by itself and reports its health, behind a
reverse proxy that is the only thing published (tests/deploy/test_proxy.py
runs its configuration)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.deploy.test_locks import dockerfile

MIGRATION_WORDS = ("alembic", "migrate", "upgrade")
POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_POOL_SIZE = 20


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    found: dict[str, Any] = compose["services"]
    return found


def words(command: str | list[str] | None) -> str:
    return " ".join(command) if isinstance(command, list) else command or ""


def test_migrations_run_in_a_one_shot_service_of_the_same_image(services: dict[str, Any]) -> None:
    migrate, alerts = services["migrate"], services["alerts"]
    assert migrate["image"] == alerts["image"]
    assert migrate.get("build") == alerts.get("build")
    assert "migrate" in words(migrate["command"]) or "alembic upgrade" in words(migrate["command"])
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["environment"]["ALERTS_DATABASE_URL"] == alerts["environment"]["ALERTS_DATABASE_URL"]
    # It must end: a policy that restarts a finished container would rerun it forever.
    assert migrate.get("restart", "no") == "no" or migrate["restart"].startswith("on-failure")
    assert "healthcheck" not in migrate and "ports" not in migrate


def test_the_server_waits_for_the_migrations_to_complete(services: dict[str, Any]) -> None:
    depends = services["alerts"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_the_server_does_not_migrate_at_start(services: dict[str, Any]) -> None:
    command = words(services["alerts"].get("command")) + words(services["alerts"].get("entrypoint"))
    assert not any(word in command for word in MIGRATION_WORDS), command
    [cmd] = [args for instruction, args in dockerfile() if instruction == "CMD"]
    assert not any(word in cmd for word in MIGRATION_WORDS), cmd
    assert not [args for instruction, args in dockerfile() if instruction == "ENTRYPOINT"]
    argv = json.loads(cmd)  # exec form: uvicorn is PID 1 and gets the stop signal
    assert argv[0] == "uvicorn"


def test_long_running_services_restart(services: dict[str, Any]) -> None:
    for name in ("alerts", "postgres", "proxy"):
        assert services[name].get("restart") in ("unless-stopped", "always"), name


def test_the_server_has_a_health_check_on_readiness(services: dict[str, Any]) -> None:
    check = services["alerts"]["healthcheck"]
    assert "/readyz" in words(check["test"])
    assert check.get("interval") and check.get("retries")
    image_checks = [args for instruction, args in dockerfile() if instruction == "HEALTHCHECK"]
    assert image_checks and "/readyz" in image_checks[0]


def test_several_workers_share_metrics_and_fit_the_connection_budget(services: dict[str, Any]) -> None:
    alerts = services["alerts"]
    env = alerts["environment"]
    workers = int(env["WEB_CONCURRENCY"])  # stated, with its reasons, in the compose file
    pool = int(env.get("ALERTS_DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE))
    # Each worker: a general pool and an ingest pool (README, database_pool_size).
    assert workers * 2 * pool < POSTGRES_DEFAULT_MAX_CONNECTIONS
    if workers > 1:
        directory = env["PROMETHEUS_MULTIPROC_DIR"]
        assert directory in alerts.get("tmpfs", []), "the metrics directory must start empty"


def test_the_local_configuration_is_not_committed() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        try:
            done = subprocess.run(
                ["git", "check-ignore", "--no-index", "-q", path],
                cwd=ROOT,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except FileNotFoundError:  # no git here: read the patterns ourselves
            return path in patterns or ("/" not in path and f"/{path}" in patterns)
        if done.returncode not in (0, 1):  # not a checkout (an export): the same
            return path in patterns or ("/" not in path and f"/{path}" in patterns)
        return done.returncode == 0

    assert ignored("alerts.toml")
    assert not ignored("alerts.example.toml")
    assert not ignored("deploy/alerts.toml")  # the compose demo configuration is part of the repository


def test_only_the_proxy_is_published(services: dict[str, Any]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert any(str(port).endswith(":8080") for port in services["proxy"]["ports"])  # nginx.conf's listen


def test_the_proxy_starts_after_a_healthy_server_with_its_configuration_read_only(
    services: dict[str, Any],
) -> None:
    proxy = services["proxy"]
    assert proxy["depends_on"]["alerts"]["condition"] == "service_healthy"
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert (ROOT / "deploy" / "nginx.conf").is_file()
    name, _, tag = proxy["image"].partition(":")
    assert name == "nginx"
    # `server alerts:8000 resolve` in the upstream needs nginx 1.27.3 or later.
    major, minor = (int(part) for part in tag.split("-")[0].split(".")[:2])
    assert (major, minor) >= (1, 27), proxy["image"]
    assert proxy.get("healthcheck")


def test_the_server_trusts_forwarded_headers_from_the_proxy_only(services: dict[str, Any]) -> None:
    alerts, proxy = services["alerts"], services["proxy"]
    networks = proxy["networks"]
    [(network, settings)] = networks.items()
    assert network in alerts["networks"]  # the network they share
    assert set(proxy["depends_on"]) == {"alerts"}  # on one network, which PostgreSQL is not on
    assert network not in services["postgres"].get("networks", [])
    assert alerts["environment"]["FORWARDED_ALLOW_IPS"] == settings["ipv4_address"]
    [cmd] = [args for instruction, args in dockerfile() if instruction == "CMD"]
    assert "--proxy-headers" in json.loads(cmd)
