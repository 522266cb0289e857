"""Every command of the README and of docs/ runs, as written, against a live service.

`sh` blocks run with bash (`set -euo pipefail`, and curl fails on an HTTP error
answer, so a refused request body fails its block), `python` blocks with
Python, each from the repository root. The service is `alerts serve` on a
fresh SQLite database, open (no API key) unless the block uses
`$ALERTS_API_KEY`: such blocks go to a second service with that key
configured. The documented address (`http://127.0.0.1:8000`) is replaced by
the live one, and ALERTS_URL points there too. A `json` block right after an
`sh` block is that command's answer: every field it shows must be in the real
answer with the same value, except ids, fingerprints, times and floats.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic import command

from app.settings import load_settings
from tests.conftest import alembic_config
from tests.docs.blocks import DOC_URL, ROOT, TAGS, Block, all_blocks
from tests.live import LiveService, client_env, run_service
from tests.peers import HttpReceiver, free_port

BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if b.tag in ("sh", "python")]
MAX_NORUN = 3  # keep it so: a command the tests cannot run is a command nobody checks
API_KEY = "docs-test-key-0123456789"
KEY_CONFIG = f"""
[[api_keys]]
name = "docs-admin"
hash = "sha256:{hashlib.sha256(API_KEY.encode()).hexdigest()}"
scopes = ["admin"]
"""
# The channels the documentation's commands name, pointed at local peers.
CHANNELS = """
[channels.ops-slack]
type = "slack"
url = "{hook}/slack"

[channels.incident-hook]
type = "webhook"
url = "{hook}/incidents"

[channels.ops-email]
type = "email"
host = "127.0.0.1"
port = {closed_port}
to = ["oncall@example.com"]
"""
PREAMBLE = 'set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 20 "$@"; }\n'
_VOLATILE = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{64}|\d{4}-\d\d-\d\dT.*)$"
)


def _id(block: Block) -> str:
    return block.where


# --- the blocks themselves ------------------------------------------------------


def test_every_block_has_a_known_tag() -> None:
    wrong = [f"{b.where} ```{b.tag}" for b in BLOCKS if b.tag not in TAGS]
    assert not wrong, f"untagged or unknown code blocks (tags: {', '.join(TAGS)}): {wrong}"
    assert RUN, "no runnable block found"


def test_no_indented_code_blocks() -> None:
    """An indented block would escape these tests: every code block is fenced."""
    from tests.docs.blocks import doc_files

    for path in doc_files():
        inside = False
        previous = ""
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                inside = not inside
            elif not inside and line.startswith("    ") and not previous.strip():
                raise AssertionError(f"{path.name}:{number}: indented code block; fence it with a tag")
            previous = line


def test_blocks_that_do_not_run_are_few_and_say_why() -> None:
    norun = [b for b in BLOCKS if b.tag == "sh-norun"]
    assert len(norun) <= MAX_NORUN, [b.where for b in norun]
    for block in norun:
        assert block.norun_reason, f"{block.where}: put `<!-- norun: why -->` on the line before"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.tag == "json"], ids=_id)
def test_json_blocks_parse(block: Block) -> None:
    json.loads(block.text)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.tag == "toml"], ids=_id)
def test_toml_blocks_are_valid_settings(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tomllib.loads(block.text)
    for name in list(os.environ):
        if name.startswith("ALERTS_"):
            monkeypatch.delenv(name)
    config = tmp_path / "alerts.toml"
    config.write_text(block.text, encoding="utf-8")
    monkeypatch.setenv("ALERTS_CONFIG_FILE", str(config))
    load_settings()  # raises ConfigError naming any wrong key or value


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.tag == "yaml"], ids=_id)
def test_yaml_blocks_are_alertmanager_configs(block: Block, tmp_path: Path) -> None:
    config = yaml.safe_load(block.text)
    urls = [hook["url"] for r in config["receivers"] for hook in r.get("webhook_configs", [])]
    assert urls and all(httpx.URL(url).path == "/integrations/alertmanager" for url in urls)
    if shutil.which("amtool") is None:
        pytest.skip("amtool (package prometheus-alertmanager) not installed: parsed only")
    path = tmp_path / "alertmanager.yml"
    path.write_text(block.text, encoding="utf-8")
    done = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# --- the live services ----------------------------------------------------------


@pytest.fixture(scope="module")
def hook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def _serve(tmp: Path, hook: HttpReceiver, extra: str = "") -> Iterator[tuple[LiveService, str]]:
    database_url = f"sqlite+aiosqlite:///{tmp / 'alerts.db'}"
    command.upgrade(alembic_config(database_url), "head")
    config = CHANNELS.format(hook=hook.url, closed_port=free_port()) + extra
    with run_service(database_url, tmp, config) as live:
        yield live, database_url


@pytest.fixture(scope="module")
def open_service(
    tmp_path_factory: pytest.TempPathFactory, hook: HttpReceiver
) -> Iterator[tuple[LiveService, str]]:
    yield from _serve(tmp_path_factory.mktemp("docs-open"), hook)


@pytest.fixture(scope="module")
def keyed_service(
    tmp_path_factory: pytest.TempPathFactory, hook: HttpReceiver
) -> Iterator[tuple[LiveService, str]]:
    yield from _serve(tmp_path_factory.mktemp("docs-keyed"), hook, KEY_CONFIG)


def _env(live: LiveService, database_url: str, keyed: bool) -> dict[str, str]:
    env = {k: v for k, v in client_env(live.url).items() if not k.startswith("MAKE")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["ALERTS_DATABASE_URL"] = database_url
    if keyed:
        env["ALERTS_API_KEY"] = API_KEY
    return env


def _matches(doc: Any, real: Any, where: str = "answer") -> None:
    if isinstance(doc, dict):
        assert isinstance(real, dict), f"{where}: {real!r} is not an object"
        for key, value in doc.items():
            assert key in real, f"{where}.{key} is documented but not answered"
            _matches(value, real[key], f"{where}.{key}")
    elif isinstance(doc, list):
        assert isinstance(real, list) and len(real) == len(doc), f"{where}: {real!r}"
        for n, (d, r) in enumerate(zip(doc, real, strict=True)):
            _matches(d, r, f"{where}[{n}]")
    elif isinstance(doc, float) or (isinstance(doc, str) and _VOLATILE.match(doc)):
        assert type(real) is type(doc) or isinstance(real, int | float), f"{where}: {real!r}"
    else:
        assert real == doc, f"{where}: documented {doc!r}, answered {real!r}"


def run_block(
    block: Block, live: LiveService, database_url: str, keyed: bool
) -> subprocess.CompletedProcess[str]:
    text = block.text.replace(DOC_URL, live.url)
    env = _env(live, database_url, keyed)
    argv = ["bash", "-c", PREAMBLE + text] if block.tag == "sh" else [sys.executable, "-c", text]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("block", RUN, ids=_id)
def test_documented_command_runs(block: Block, request: pytest.FixtureRequest) -> None:
    keyed = "ALERTS_API_KEY" in block.text
    live, database_url = request.getfixturevalue("keyed_service" if keyed else "open_service")
    done = run_block(block, live, database_url, keyed)
    assert done.returncode == 0, (
        f"{block.where} exited {done.returncode}\n--- block\n{block.text}"
        f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    )
    answer = next((b for b in BLOCKS if b.tag == "json" and b.follows is block), None)
    if answer is not None:
        _matches(json.loads(answer.text), json.loads(done.stdout))


def test_a_broken_command_fails(open_service: tuple[LiveService, str]) -> None:
    """The harness itself: a refused request body, or a failing command, is a failure."""
    live, database_url = open_service
    template = next(b for b in RUN if b.path.name == "README.md" and "POST" in b.text)
    broken = Block(template.path, template.line, "sh", template.text.replace('"high"', '"sev1"'), "", None)
    assert run_block(broken, live, database_url, keyed=False).returncode != 0
    missing = Block(template.path, template.line, "sh", "alerts no-such-command\n", "", None)
    assert run_block(missing, live, database_url, keyed=False).returncode != 0


# --- documented shapes that no command prints as they stand ---------------------


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    return None


def test_stats_example_has_the_real_shape(open_service: tuple[LiveService, str]) -> None:
    live, _ = open_service
    doc = json.loads(next(b for b in BLOCKS if b.tag == "json" and '"deduplication"' in b.text).text)
    real = httpx.get(f"{live.url}/stats", timeout=10).json()
    for varying in ("by_type",):  # keyed by the data
        doc["alerts"].pop(varying)
        real["alerts"].pop(varying)
    doc_channel = _keys(doc.pop("channels")["console"])
    assert all(_keys(c) == doc_channel for c in real.pop("channels").values())
    assert _keys(doc) == _keys(real)


def test_error_example_has_the_real_shape(open_service: tuple[LiveService, str]) -> None:
    live, _ = open_service
    doc = json.loads(next(b for b in BLOCKS if b.tag == "json" and '"validation_error"' in b.text).text)
    body = {"alert_type": "t", "severity": "sev1", "message": "m", "source": "s"}
    real = httpx.post(f"{live.url}/alerts", json=body, timeout=10)
    assert real.status_code == 422
    assert set(real.json()) == set(doc)
    assert (real.json()["code"], real.json()["field"]) == (doc["code"], doc["field"])
    assert real.json()["message"].startswith(doc["message"].removesuffix("..."))


def test_pagerduty_error_example_is_the_real_answer(open_service: tuple[LiveService, str]) -> None:
    live, _ = open_service
    doc = json.loads(next(b for b in BLOCKS if b.tag == "json" and '"invalid event"' in b.text).text)
    event = {"routing_key": "k", "event_action": "trigger", "payload": {"source": "s", "severity": "error"}}
    real = httpx.post(f"{live.url}/integrations/pagerduty/v2/enqueue", json=event, timeout=10)
    assert (real.status_code, real.json()) == (400, doc)
