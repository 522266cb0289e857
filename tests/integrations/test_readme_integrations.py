"""The README's integration snippets work: the alertmanager.yml receiver is a
valid Alertmanager configuration, and the PagerDuty curl body is accepted."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, Service

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    """The indented code block that starts at the line holding `marker`."""
    lines = README[README.index(marker) :].splitlines()
    block = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).strip()


@pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool (package prometheus-alertmanager) not installed"
)
def test_alertmanager_snippet_is_a_valid_config(tmp_path: Path) -> None:
    snippet = _block_after("    # alertmanager.yml")
    assert "/integrations/alertmanager" in snippet
    config = tmp_path / "alertmanager.yml"
    config.write_text(snippet, encoding="utf-8")
    done = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_pagerduty_curl_body_is_accepted(service: Service) -> None:
    curl = _block_after("    curl -s -X POST http://127.0.0.1:8000/integrations/pagerduty/v2/enqueue")
    body = json.loads(re.search(r"-d '(\{.*?\})'", curl, re.S).group(1))  # type: ignore[union-attr]
    body["routing_key"] = "any-key-in-open-mode"
    response = await service.client.post("/integrations/pagerduty/v2/enqueue", json=body)
    assert response.status_code == 202
    expected = json.loads(curl.splitlines()[-1])
    assert response.json() == expected
