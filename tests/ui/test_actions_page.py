"""An email's acknowledge link in a real browser against a real server: the
mail arrives at a real SMTP server, Chromium opens its link, confirms, and
sees the alert acknowledged, loading nothing from anywhere but the service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.conftest import StartSmtp
from tests.live import LiveService, run_service
from tests.peers import SmtpServer
from tests.ui.conftest import foreign_requests, forget_cookies, screenshot, wait_for
from tests.ui.test_actions import BY, links_of


@pytest.fixture
def smtp(smtp_server: StartSmtp) -> SmtpServer:
    return smtp_server()


@pytest.fixture
def mailing_service(clean_database: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[LiveService]:
    config = (
        f'[channels.ops-email]\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp.port}\n'
        'to = ["oncall@example.com", "lead@example.com"]\n'
    )
    with run_service(clean_database, tmp_path, config=config) as svc:
        yield svc


@pytest.fixture
def page(_driver: WebDriver) -> Iterator[WebDriver]:
    forget_cookies(_driver)
    yield _driver
    _driver.get("about:blank")


def test_the_acknowledge_link_acknowledges_after_a_click(
    mailing_service: LiveService, smtp: SmtpServer, page: WebDriver
) -> None:
    with httpx.Client(base_url=mailing_service.url, timeout=10) as api:
        body = {
            "alert_type": "disk_full",
            "severity": "high",
            "message": "Disk / is 97% full",
            "source": "db-1",
        }
        alert = api.post("/alerts", json={**body, "channels": ["ops-email"]}).json()
        deadline = time.monotonic() + 15
        while not smtp.recorder.delivered and time.monotonic() < deadline:
            time.sleep(0.05)
        [mail] = smtp.recorder.delivered
        link = links_of(mail)["Acknowledge"]
        assert link.startswith(mailing_service.url + "/actions/")

        page.get(link)
        form = wait_for(page, lambda b: b.find_element(By.CSS_SELECTOR, "[data-testid=action-form]"))
        assert page.find_element(By.CSS_SELECTOR, "[data-testid=status]").text == "open"
        assert api.get(f"/alerts/{alert['id']}").json()["status"] == "open"
        form.find_element(By.NAME, "note").send_keys("looking")
        screenshot(page, "console-email-action")
        form.find_element(By.CSS_SELECTOR, "[data-testid=confirm]").click()

        done = wait_for(page, lambda b: b.find_element(By.CSS_SELECTOR, "[data-testid=done]"))
        assert done.text.startswith("Acknowledged by " + BY)
        assert page.find_element(By.CSS_SELECTOR, "[data-testid=status]").text == "acknowledged"
        assert foreign_requests(page, mailing_service.url) == []
        moved = api.get(f"/alerts/{alert['id']}").json()
        assert moved["status"] == "acknowledged" and moved["acknowledged_by"] == BY
        assert moved["history"][-1]["note"] == "looking"
