"""The silences page in a real browser against a real server: the preview
follows the form as it is typed (htmx), the silence made from the page is
the API's, and it holds the notifications of a matching new alert."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.ui.conftest import Console, SignedIn, foreign_requests, wait_for


def _preview_ids(browser: WebDriver) -> set[str]:
    items = browser.find_elements(By.CSS_SELECTOR, "#silence-preview li[data-alert-id]")
    return {item.get_attribute("data-alert-id") for item in items}


def _preview_count(browser: WebDriver) -> str:
    found = browser.find_elements(By.CSS_SELECTOR, "[data-testid=preview-count]")
    return found[0].text if found else ""


def test_a_silence_made_on_the_page_holds_a_matching_new_alert(console: Console, signed_in: SignedIn) -> None:
    firing = console.submit(alert_type="disk_full", source="db-7", labels={"env": "prod"})
    other = console.submit(alert_type="cpu_high", source="db-7")
    browser = signed_in("admin", "/ui/silences")
    assert "Fill in a matcher" in browser.find_element(By.ID, "silence-preview").text

    # The preview follows the form as it is typed, without a reload.
    browser.execute_script("window.stillTheSamePage = true")
    browser.find_element(By.NAME, "matchers.0.name").send_keys("source")
    browser.find_element(By.NAME, "matchers.0.value").send_keys("db-7")
    wait_for(browser, lambda b: _preview_ids(b) == {firing["id"], other["id"]})
    browser.find_element(By.NAME, "matchers.1.name").send_keys("alert_type")
    browser.find_element(By.NAME, "matchers.1.value").send_keys("disk_.*")
    browser.find_element(By.NAME, "matchers.1.is_regex").click()
    wait_for(browser, lambda b: _preview_ids(b) == {firing["id"]} and _preview_count(b) == "1")
    assert browser.execute_script("return window.stillTheSamePage") is True

    browser.find_element(By.CSS_SELECTOR, "input[name=duration][value='240']").click()
    browser.find_element(By.NAME, "comment").send_keys("replacing the disk of db-7")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=create]").click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=done]"))
    assert foreign_requests(browser, console.url) == []

    with console.api() as api:
        [silence] = api.get("/silences").json()
    assert silence["state"] == "active" and silence["created_by"] == "admin"
    assert silence["comment"] == "replacing the disk of db-7" and silence["team"] is None
    assert silence["matchers"] == [
        {"name": "source", "value": "db-7", "is_regex": False},
        {"name": "alert_type", "value": "disk_.*", "is_regex": True},
    ]
    row = browser.find_element(By.ID, silence["id"])
    assert "active" in row.find_element(By.CSS_SELECTOR, "[data-testid=state]").text
    assert "replacing the disk of db-7" in row.text

    # A new alert it matches is recorded, and its notification held.
    new = console.submit(alert_type="disk_inodes", source="db-7", severity="critical")
    assert new["silenced"] is True and new["silenced_by"] == [silence["id"]]
    assert new["notified"] is False
    notifications = console.alert(new["id"])["notifications"]
    assert notifications and {n["status"] for n in notifications} == {"silenced"}
    # ... and one it does not match is not.
    loud = console.submit(alert_type="disk_inodes", source="db-8")
    assert loud["silenced"] is False


def test_silence_alerts_like_this_one_then_expire(console: Console, signed_in: SignedIn) -> None:
    alert = console.submit(alert_type="queue_backlog", source="worker-3")
    browser = signed_in("admin", f"/ui/alerts/{alert['id']}")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=silence-like]").click()
    wait_for(browser, lambda b: "/ui/silences" in b.current_url)
    assert browser.find_element(By.NAME, "matchers.0.value").get_attribute("value") == "queue_backlog"
    assert browser.find_element(By.NAME, "matchers.1.value").get_attribute("value") == "worker-3"
    assert _preview_ids(browser) == {alert["id"]}

    browser.find_element(By.CSS_SELECTOR, "[data-testid=create]").click()  # no comment yet
    error = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-error-for=comment]"))
    assert "comment" in browser.find_element(By.CSS_SELECTOR, "[data-testid=form-errors]").text
    assert error[0].is_displayed()
    browser.find_element(By.NAME, "comment").send_keys("known backlog, draining")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=create]").click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=done]"))
    with console.api() as api:
        [silence] = api.get("/silences").json()
    assert console.alert(alert["id"])["silenced"] is True

    active = browser.find_element(By.CSS_SELECTOR, "[data-testid=silences-active]")
    active.find_element(By.CSS_SELECTOR, f"tr[id='{silence['id']}'] [data-testid=expire]").click()
    wait_for(browser, lambda b: "done=expired" in b.current_url)
    expired = browser.find_element(By.CSS_SELECTOR, "[data-testid=silences-expired]")
    assert silence["id"] in expired.get_attribute("innerHTML")
    assert console.alert(alert["id"])["silenced"] is False


def test_a_read_only_key_gets_no_form(console: Console, signed_in: SignedIn) -> None:
    browser = signed_in("reader", "/ui/silences")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=silence-form]") == []
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=read-only]").is_displayed()


def test_a_fifth_matcher_row_is_added_and_applies(console: Console, signed_in: SignedIn) -> None:
    wanted = console.submit(alert_type="disk_full", source="db-7", labels={"env": "prod", "zone": "a"})
    console.submit(alert_type="disk_full", source="db-7", labels={"env": "prod", "zone": "b"})
    browser = signed_in("admin", "/ui/silences")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.matcher-rows tbody tr")
    for i, (name, value) in enumerate(
        [("alert_type", "disk_full"), ("source", "db-7"), ("labels.env", "prod"), ("severity", "high")]
    ):
        browser.find_element(By.NAME, f"matchers.{i}.name").send_keys(name)
        browser.find_element(By.NAME, f"matchers.{i}.value").send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=add-matcher]").click()
    added = browser.find_element(By.NAME, f"matchers.{len(rows)}.name")
    assert added.get_attribute("value") == ""
    added.send_keys("labels.zone")
    browser.find_element(By.NAME, f"matchers.{len(rows)}.value").send_keys("a")
    wait_for(browser, lambda b: _preview_ids(b) == {wanted["id"]})
