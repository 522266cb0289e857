"""The channels page in a real browser against a real server: a test
notification sent from the page, and its outcome shown there."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.ui.conftest import Console, SignedIn, foreign_requests, wait_for


def test_send_test_shows_the_outcome(console: Console, signed_in: SignedIn) -> None:
    browser = signed_in("admin", "/ui/channels")
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-channel=console]")
    assert row.find_element(By.CSS_SELECTOR, "[data-figure=sent]").text == "0"
    row.find_element(By.CSS_SELECTOR, "[data-testid=send-test]").click()
    wait_for(browser, lambda b: "test=" in b.current_url)
    test_id = browser.current_url.split("test=")[1]
    # Waiting, then sent: the outcome box asks again by itself until it settles.
    outcome = wait_for(
        browser,
        lambda b: b.find_element(By.CSS_SELECTOR, "[data-testid=test-outcome][data-status=sent]"),
    )
    assert "Test notification to console" in outcome.text and test_id in outcome.text
    assert foreign_requests(browser, console.url) == []
    with console.api() as api:
        figures = {c["name"]: c for c in api.get("/channels").json()}
    assert figures["console"]["sent"] == 1


def test_a_read_only_key_has_no_send_test(console: Console, signed_in: SignedIn) -> None:
    browser = signed_in("reader", "/ui/channels")
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-channel=console]")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=send-test]") == []


def test_without_flood_control_there_is_no_flood_column(signed_in: SignedIn) -> None:
    browser = signed_in("reader", "/ui/channels")
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-channel=console]")
    assert "Flood control" not in browser.find_element(
        By.CSS_SELECTOR, "[data-testid=channels] thead"
    ).get_attribute("textContent")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=flood]") == []
