"""The console in a real browser: Debian's headless Chromium, driven by Selenium
through Debian's chromedriver, against the service as a real process.

The browser reaches 127.0.0.1 only: every other host name resolves to
nothing (--host-resolver-rules), as on an air-gapped network, so a page that
needed an asset from elsewhere would show it.

Without a browser on the machine these tests are skipped with a loud
reason, as the PostgreSQL half is; CI sets ALERTS_REQUIRE_BROWSER=1, which
turns that skip into a failure.

`console` is the service with four keys (admin of every team, a reader, an
on-call key of team payments, a writer of team payments); `signed_in` opens
the console with one of them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from app.api.auth import hash_key
from tests.live import run_service

REQUIRE_BROWSER = os.environ.get("ALERTS_REQUIRE_BROWSER") == "1"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "images"

KEYS: dict[str, tuple[str, list[str], str]] = {
    # name: (key, scopes, team)
    "admin": ("console-admin-key-0123456789abcdefghij", ["admin"], "*"),
    "reader": ("console-reader-key-0123456789abcdefghi", ["read"], "default"),
    "oncall": ("console-oncall-key-0123456789abcdefghi", ["read", "alerts:manage"], "payments"),
    "writer": ("console-writer-key-0123456789abcdefghi", ["alerts:write"], "payments"),
}


def keys_config() -> str:
    return "".join(
        f'[[api_keys]]\nname = "{name}"\nhash = "{hash_key(key)}"\nscopes = {json.dumps(scopes)}\nteam = "{team}"\n\n'
        for name, (key, scopes, team) in KEYS.items()
    )


@dataclass(frozen=True)
class Console:
    url: str

    def api(self, key_name: str = "admin") -> httpx.Client:
        """The JSON API, as a key of KEYS."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {KEYS[key_name][0]}"}, timeout=10
        )

    def submit(self, key_name: str = "admin", **alert: Any) -> dict[str, Any]:
        body = {
            "alert_type": "disk_full",
            "severity": "high",
            "message": "Disk / is 97% full",
            "source": "db-1",
        }
        with self.api(key_name) as api:
            answer = api.post("/alerts", json={**body, **alert})
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    def alert(self, alert_id: str) -> dict[str, Any]:
        with self.api() as api:
            answer = api.get(f"/alerts/{alert_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture
def console_config() -> str:
    """More of the service's TOML after the keys: a module overrides this
    fixture to configure channels of its own."""
    return ""


@pytest.fixture
def console(clean_database: str, tmp_path: Path, console_config: str) -> Iterator[Console]:
    with run_service(clean_database, tmp_path, config=keys_config() + console_config) as svc:
        yield Console(svc.url)


def _binary(name: str, *candidates: str) -> str | None:
    for candidate in (shutil.which(name), *candidates):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def _driver() -> Iterator[WebDriver]:
    chromium = _binary("chromium", "/usr/bin/chromium")
    chromedriver = _binary("chromedriver", "/usr/bin/chromedriver")
    if chromium is None or chromedriver is None:
        message = "BROWSER TESTS NOT RUN: install Debian's chromium and chromium-driver"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests may run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1360,900",
        # No host but this machine: what the service serves must not need one.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-proxy-server",
    ):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(options=options, service=DriverService(executable_path=chromedriver))
    except WebDriverException as exc:
        message = f"BROWSER TESTS NOT RUN: Chromium did not start ({exc.msg})"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def forget_cookies(driver: WebDriver) -> None:
    """Every cookie the browser holds. WebDriver's delete_all_cookies deletes
    those of the page shown only (none on about:blank), and a cookie of
    127.0.0.1 goes to every port: the last test's session, signed with a key
    the database keeps, would sign in the next test on that database."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})


@pytest.fixture
def browser(_driver: WebDriver, console: Console) -> Iterator[WebDriver]:
    """One Chromium for the whole run; each test starts with no cookie, and
    leaves the console's page (closing its live stream) before the server stops."""
    forget_cookies(_driver)
    yield _driver
    _driver.get("about:blank")
    forget_cookies(_driver)


def wait_for(browser: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 10) -> Any:
    # A page being replaced (a form's redirect) leaves stale elements behind:
    # look again rather than fail.
    ignored = (StaleElementReferenceException, NoSuchElementException)
    return WebDriverWait(browser, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition)


def sign_in(browser: WebDriver, console: Console, key_name: str, page: str = "/ui/") -> None:
    """Open a console page as a key: the page sends us to sign in, then back."""
    browser.get(console.url + page)
    wait_for(browser, lambda b: "/ui/login" in b.current_url)
    browser.find_element(By.NAME, "key").send_keys(KEYS[key_name][0])
    browser.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button").click()
    wait_for(browser, lambda b: "/ui/login" not in b.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=signed-in]").text.startswith(key_name)


SignedIn = Callable[..., WebDriver]


@pytest.fixture
def signed_in(browser: WebDriver, console: Console) -> SignedIn:
    def open_as(key_name: str, page: str = "/ui/") -> WebDriver:
        sign_in(browser, console, key_name, page)
        return browser

    return open_as


def screenshot(browser: WebDriver, name: str) -> Path:
    """A picture of the page for the docs (docs/images/<name>.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert browser.save_screenshot(str(path)), f"no screenshot written to {path}"
    return path


def foreign_requests(browser: WebDriver, origin: str) -> list[str]:
    """Every resource the page loaded from anywhere but the service."""
    names: list[str] = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    return [name for name in names if not name.startswith(origin)]
