"""The alert list and the alert page, in a real browser against a real server."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.ui.conftest import Console, SignedIn, foreign_requests, screenshot, wait_for


def _row_ids(browser: WebDriver) -> set[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "[data-testid=alert-rows] tr[data-alert-id]")
    return {row.get_attribute("data-alert-id") for row in rows}


def test_the_list_shows_an_alert_submitted_over_the_api(console: Console, signed_in: SignedIn) -> None:
    alert = console.submit(severity="critical", message="Disk / is 97% full on db-1", labels={"env": "prod"})
    browser = signed_in("admin")
    assert alert["id"] in _row_ids(browser)
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-alert-id='{alert['id']}']")
    assert "critical" in row.text and "disk_full" in row.text and "db-1" in row.text
    assert "sev-critical" in row.get_attribute("class")
    counts = browser.find_element(By.CSS_SELECTOR, "[data-count=severity-critical] strong")
    assert counts.text == "1"
    assert foreign_requests(browser, console.url) == []


def test_a_new_alert_appears_without_a_reload(console: Console, signed_in: SignedIn) -> None:
    browser = signed_in("admin")
    wait_for(browser, lambda b: "on" in b.find_element(By.CSS_SELECTOR, ".live").get_attribute("class"))
    browser.execute_script("window.stillTheSamePage = true")
    alert = console.submit(alert_type="queue_backlog", source="worker-7")
    wait_for(browser, lambda b: alert["id"] in _row_ids(b))
    assert browser.execute_script("return window.stillTheSamePage") is True
    # ... and a change to it shows too: acknowledged elsewhere, the row says so.
    with console.api() as api:
        assert api.patch(f"/alerts/{alert['id']}/acknowledge", json={"by": "bob"}).status_code == 200
    wait_for(
        browser,
        lambda b: (
            "acknowledged" in b.find_element(By.CSS_SELECTOR, f"tr[data-alert-id='{alert['id']}']").text
        ),
    )
    assert browser.execute_script("return window.stillTheSamePage") is True


def test_filters_narrow_the_list(console: Console, signed_in: SignedIn) -> None:
    critical = console.submit(alert_type="db_down", severity="critical", source="db-1")
    low = console.submit(alert_type="slow_query", severity="low", source="db-2", message="a query took 3 s")
    browser = signed_in("admin")
    assert {critical["id"], low["id"]} <= _row_ids(browser)
    Select(browser.find_element(By.NAME, "severity")).select_by_value("critical")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait_for(browser, lambda b: "severity=critical" in b.current_url)
    assert _row_ids(browser) == {critical["id"]}
    browser.get(console.url + "/ui/?q=QUERY+TOOK")
    assert _row_ids(browser) == {low["id"]}
    browser.get(console.url + "/ui/?severity=urgent")
    assert "severity" in browser.find_element(By.CSS_SELECTOR, "[data-testid=error]").text


def test_acknowledge_then_resolve_from_the_alert_page(console: Console, signed_in: SignedIn) -> None:
    alert = console.submit(
        severity="critical",
        labels={"env": "prod", "service": "payments"},
        details={"runbook": "https://wiki/x"},
    )
    browser = signed_in("admin", f"/ui/alerts/{alert['id']}")
    assert "payments" in browser.find_element(By.CSS_SELECTOR, "[data-testid=labels]").text
    screenshot(browser, "console-alert")
    browser.find_element(By.NAME, "by").send_keys("alice")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=move-acknowledged]").click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=done]"))
    stored = console.alert(alert["id"])
    assert stored["status"] == "acknowledged" and stored["acknowledged_by"] == "alice"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=status]").text == "acknowledged"

    browser.find_element(By.NAME, "note").send_keys("freed 20 GB of old logs")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=move-resolved]").click()
    wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "[data-testid=status]").text == "resolved")
    stored = console.alert(alert["id"])
    assert stored["status"] == "resolved"
    assert stored["resolution_notes"] == "freed 20 GB of old logs"
    assert stored["resolved_by"] == "admin"  # no name typed this time: the key's
    history = browser.find_element(By.CSS_SELECTOR, "[data-testid=history]").text
    assert "acknowledged" in history and "resolved" in history and "alice" in history


def test_bulk_acknowledge(console: Console, signed_in: SignedIn) -> None:
    first, second, third = (console.submit(alert_type=f"check_{i}", source=f"host-{i}") for i in range(3))
    browser = signed_in("admin")
    screenshot(browser, "console-alerts")
    for alert in (first, second):
        browser.find_element(By.CSS_SELECTOR, f"input[name=ids][value='{alert['id']}']").click()
    button = browser.find_element(By.CSS_SELECTOR, "[data-testid=bulk-acknowledged]")
    assert button.is_enabled()
    button.click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=done]"))
    assert "2 alert(s)" in browser.find_element(By.CSS_SELECTOR, "[data-testid=done]").text
    assert [console.alert(a["id"])["status"] for a in (first, second, third)] == [
        "acknowledged",
        "acknowledged",
        "open",
    ]


def test_a_read_only_key_sees_no_action(console: Console, signed_in: SignedIn) -> None:
    alert = console.submit()
    browser = signed_in("reader")
    assert alert["id"] in _row_ids(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "input[name=ids]") == []
    assert browser.find_elements(By.CSS_SELECTOR, "[data-bulk]") == []
    browser.get(f"{console.url}/ui/alerts/{alert['id']}")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=move-form]") == []
    assert "may read, not act" in browser.page_source


def test_a_team_key_sees_its_team_only(console: Console, signed_in: SignedIn) -> None:
    theirs = console.submit(alert_type="card_declines")  # admin's home team: default
    ours = console.submit("writer", alert_type="card_declines")  # team payments
    browser = signed_in("oncall")
    assert _row_ids(browser) == {ours["id"]}
    browser.get(f"{console.url}/ui/alerts/{theirs['id']}")
    assert "not found" in browser.find_element(By.CSS_SELECTOR, "[data-testid=error]").text


def test_a_post_without_the_csrf_token_is_refused(console: Console, signed_in: SignedIn) -> None:
    alert = console.submit()
    browser = signed_in("admin", f"/ui/alerts/{alert['id']}")
    # The page's own script posting as the form does, with the session
    # cookie but without the token: refused, and nothing moves.
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: "POST", credentials: "same-origin",
              headers: {"Content-Type": "application/x-www-form-urlencoded"},
              body: "status=acknowledged", redirect: "manual"})
          .then((r) => done(r.status), (e) => done(String(e)));
        """,
        f"/ui/alerts/{alert['id']}/move",
    )
    assert status == 403
    assert console.alert(alert["id"])["status"] == "open"


def test_signing_out_ends_the_session(console: Console, signed_in: SignedIn) -> None:
    browser = signed_in("admin")
    browser.find_element(By.CSS_SELECTOR, "form[action='/ui/logout'] button").click()
    wait_for(browser, lambda b: "/ui/login" in b.current_url)
    browser.get(console.url + "/ui/")
    assert "/ui/login" in browser.current_url


def test_a_wrong_key_is_refused(console: Console, browser: WebDriver) -> None:
    browser.get(console.url + "/ui/login")
    browser.find_element(By.NAME, "key").send_keys("not-a-key-of-this-service")
    browser.find_element(By.CSS_SELECTOR, "form[action='/ui/login'] button").click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".error"))
    assert "/ui/login" in browser.current_url


def test_docs_render_their_operations_offline(console: Console, browser: WebDriver) -> None:
    """Swagger UI with no host but this one reachable: the operations show."""
    browser.get(console.url + "/docs")
    operations = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert len(operations) > 10
    assert foreign_requests(browser, console.url) == []
    browser.get(console.url + "/redoc")
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-section-id]"))
    assert foreign_requests(browser, console.url) == []


def test_the_home_page_is_the_console(console: Console) -> None:
    answer = httpx.get(console.url + "/", follow_redirects=True)
    # Keys are configured: the console asks to sign in first.
    assert answer.status_code == 200 and answer.url.path == "/ui/login"
    assert 'name="key"' in answer.text
