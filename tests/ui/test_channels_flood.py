"""Flood control's figures on the channels page, in a real browser against
a real server: a channel a provider paused (a real receiver answering 429)
and one that folded a burst into a digest (tests/flooding.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from selenium.webdriver.common.by import By

from tests.flooding import flood_channels, make_flood
from tests.peers import HttpReceiver
from tests.ui.conftest import Console, SignedIn, foreign_requests


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    made = HttpReceiver()
    made.answer(429, headers={"Retry-After": "120"}, body=b"slow down")
    yield made
    made.close()


@pytest.fixture
def console_config(receiver: HttpReceiver) -> str:
    return flood_channels(receiver.url)


def test_the_page_shows_a_pause_and_what_was_folded(console: Console, signed_in: SignedIn) -> None:
    with console.api() as api:
        figures = make_flood(api)
    browser = signed_in("reader", "/ui/channels")
    assert "Flood control" in browser.find_element(
        By.CSS_SELECTOR, "[data-testid=channels] thead"
    ).get_attribute("textContent")

    hooks = browser.find_element(By.CSS_SELECTOR, "tr[data-channel=hooks] [data-testid=flood]")
    paused = hooks.find_element(By.CSS_SELECTOR, "[data-figure=paused_until]").text
    until = datetime.fromisoformat(figures["hooks"]["paused_until"])
    assert paused == f"paused until {until:%Y-%m-%d %H:%M:%S} UTC"

    burst = browser.find_element(By.CSS_SELECTOR, "tr[data-channel=burst] [data-testid=flood]")
    assert burst.find_element(By.CSS_SELECTOR, "[data-figure=max_per_minute]").text == "at most 1/min"
    folded = burst.find_element(By.CSS_SELECTOR, "[data-figure=folded]").text
    assert folded == f"{figures['burst']['folded']} folded" and figures["burst"]["folded"] >= 1
    recent = burst.find_element(By.CSS_SELECTOR, "[data-figure=folded_last_hour]").text
    assert recent == f"({figures['burst']['folded_last_hour']} in the last hour)"

    # Only where set: the console channel has no limit, no pause, nothing folded.
    plain = browser.find_element(By.CSS_SELECTOR, "tr[data-channel=console] [data-testid=flood]")
    assert plain.text == ""
    assert foreign_requests(browser, console.url) == []
