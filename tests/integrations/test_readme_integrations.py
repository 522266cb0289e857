"""The integration snippets of docs/integrations.md work: the alertmanager.yml
receiver is a valid Alertmanager configuration, and the PagerDuty curl body is
accepted with the documented answer."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Service
from tests.docs.blocks import DOCS, block_containing

INTEGRATIONS = DOCS / "integrations.md"


@pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool (package prometheus-alertmanager) not installed"
)
def test_alertmanager_snippet_is_a_valid_config(tmp_path: Path) -> None:
    snippet = block_containing(INTEGRATIONS, "yaml", "# alertmanager.yml").text
    assert "/integrations/alertmanager" in snippet
    config = tmp_path / "alertmanager.yml"
    config.write_text(snippet, encoding="utf-8")
    done = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_pagerduty_curl_body_is_accepted(service: Service) -> None:
    curl = block_containing(INTEGRATIONS, "sh", '"event_action": "trigger"')
    body = json.loads(re.search(r"-d '(\{.*?\})'", curl.text, re.S).group(1))  # type: ignore[union-attr]
    body["routing_key"] = "any-key-in-open-mode"
    response = await service.client.post("/integrations/pagerduty/v2/enqueue", json=body)
    assert response.status_code == 202
    answer = block_containing(INTEGRATIONS, "json", '"Event processed"')
    assert answer.follows is not None and answer.follows.line == curl.line
    assert response.json() == json.loads(answer.text)
