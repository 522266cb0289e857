"""The stats page in process, on both databases: what its charts and
figures say about a known history, and what a team's key gets to see."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from app.api.auth import hash_key
from tests.conftest import Service, ServiceFactory
from tests.helpers import alert_body
from tests.services.test_trends import NOW, make_history

CHARTS = (
    "chart-alerts", "chart-acknowledge", "chart-resolve", "chart-suppression", "chart-escalations",
    "chart-types", "chart-sources", "chart-delivery", "chart-latency",
)  # fmt: skip


class Page(HTMLParser):
    """The page's headline figures, and each chart's marks as
    (series, at, value), with its text alternative."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.marks: dict[str, list[tuple[str, str, float]]] = {}
        self.labels: dict[str, str] = {}
        self._chart: str | None = None
        self._figure: str | None = None
        self._in_strong = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "figure" and "data-testid" in a:
            self._chart = a["data-testid"]
            self.marks[self._chart] = []
        elif tag == "svg" and self._chart:
            assert a.get("role") == "img"
            self.labels[self._chart] = a.get("aria-label", "")
        elif tag in ("rect", "circle") and "data-series" in a and self._chart:
            self.marks[self._chart].append((a["data-series"], a["data-at"], float(a["data-value"])))
        elif tag == "div" and "data-figure" in a:
            self._figure = a["data-figure"]
        elif tag == "strong" and self._figure:
            self._in_strong = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._chart = None
        elif tag == "strong":
            self._in_strong, self._figure = False, None

    def handle_data(self, data: str) -> None:
        if self._in_strong and self._figure:
            self.figures[self._figure] = data.strip()

    def at(self, chart: str, moment: str) -> dict[str, float]:
        """A chart's values at a bucket (`09:30` on the 5th) or a row's label."""
        key = f"2026-01-05T{moment}:00+00:00" if re.fullmatch(r"\d\d:\d\d", moment) else moment
        return {series: value for series, at, value in self.marks[chart] if at == key}


async def stats_page(client: httpx.AsyncClient, **params: str) -> Page:
    response = await client.get("/ui/stats", params=params)
    assert response.status_code == 200, response.text
    return Page(response.text)


async def test_every_figure_of_a_known_history(service: Service) -> None:
    await make_history(service)
    service.clock.now = NOW
    page = await stats_page(service.client, range="24h")
    assert set(page.marks) == set(CHARTS)
    assert all(len(page.labels[chart]) > 40 for chart in CHARTS)  # a text alternative, not a title
    assert page.figures == {
        "alerts": "5",
        "occurrences": "7",
        "suppressed": "29 %",  # 2 of 7
        "acknowledge": "10.0 min",  # 5, 10 and 20 minutes
        "resolve": "30.0 min",
        "escalations": "1",
    }
    assert page.at("chart-alerts", "09:00") == {"critical": 2, "high": 1}
    assert page.at("chart-alerts", "09:30") == {"low": 1}
    assert page.at("chart-alerts", "10:00") == {"medium": 1}
    assert len(page.marks["chart-alerts"]) == 4
    assert page.at("chart-acknowledge", "09:00") == {"median": 15, "p90": 19}
    assert page.at("chart-acknowledge", "09:30") == {"median": 5, "p90": 5}
    assert page.at("chart-resolve", "09:00") == {"median": 30, "p90": 30}
    assert len(page.marks["chart-resolve"]) == 2
    assert page.at("chart-suppression", "09:00") == {"suppressed": 0.4}
    assert page.at("chart-suppression", "10:00") == {"suppressed": 0}
    assert page.at("chart-escalations", "09:30") == {"level 3": 1}
    assert len(page.marks["chart-escalations"]) == 1
    types = page.marks["chart-types"]
    assert [at for series, at, _ in types if series == "occurrences"] == [
        "disk_full",
        "cpu",
        "db_down",
        "mem",
    ]
    assert page.at("chart-types", "disk_full") == {"alerts": 1, "occurrences": 3}
    assert page.at("chart-sources", "web-1") == {"alerts": 2, "occurrences": 2}
    assert page.at("chart-delivery", "pager") == {"delivered": 0.8}
    assert page.at("chart-latency", "pager") == {"median": 25, "p90": 37}
    assert "pager: median 25 ms, p90 37 ms" in page.labels["chart-latency"]

    by_alerts = await stats_page(service.client, range="24h", rank="alerts")
    assert [at for s, at, _ in by_alerts.marks["chart-types"] if s == "alerts"][:2] == ["cpu", "disk_full"]


async def test_a_shorter_window_holds_less(service: Service) -> None:
    await make_history(service)
    service.clock.now = NOW
    page = await stats_page(service.client, range="1h")  # 09:02 to 10:02, by 2 minutes
    assert page.figures["alerts"] == "2" and len(page.marks["chart-alerts"]) == 2
    assert page.at("chart-alerts", "09:40") == {"low": 1} and page.at("chart-alerts", "10:00") == {
        "medium": 1
    }
    assert page.at("chart-escalations", "09:30") == {"level 3": 1}
    # 09:02 and 09:03 sent (40 and 30 ms), 09:04 failed; 09:00 and 09:01 before the window
    assert page.at("chart-delivery", "pager") == {"delivered": pytest.approx(2 / 3)}
    assert page.at("chart-latency", "pager") == {"median": 35, "p90": 39}


async def test_an_empty_window_says_so(service: Service) -> None:
    response = await service.client.get("/ui/stats", params={"range": "7d"})
    assert response.status_code == 200
    page = Page(response.text)
    assert all(page.marks[chart] == [] for chart in CHARTS)
    assert response.text.count('class="empty"') == len(CHARTS)
    assert page.figures["alerts"] == "0" and page.figures["acknowledge"] == "\u2013"


async def test_bad_parameters_are_refused_and_text_is_escaped(service: Service) -> None:
    for params, field in (
        ({"range": "2y"}, "range"),
        ({"rank": "loudness"}, "rank"),
        ({"team": "t" * 65}, "team"),
    ):
        response = await service.client.get("/ui/stats", params=params)
        assert response.status_code == 422 and f"(field: {field})" in response.text
    response = await service.client.get("/ui/stats", params={"team": "<b>ops</b>"})
    assert response.status_code == 200
    assert "<b>ops" not in response.text and "&lt;b&gt;ops&lt;/b&gt;" in response.text


# --- teams ------------------------------------------------------------------------

KEYS = {
    "a-writer": ("alerts:write", "a"),
    "b-writer": ("alerts:write", "b"),
    "a-reader": ("read", "a"),
    "all-reader": ("read", "*"),
}


def secret(name: str) -> str:
    return f"{name}-stats-key-0123456789abcdef"


@pytest.fixture
async def teams(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    keys = [
        {"name": name, "hash": hash_key(secret(name)), "scopes": [scope], "team": team}
        for name, (scope, team) in KEYS.items()
    ]
    async with service_factory(api_keys=keys) as svc:
        yield svc


@asynccontextmanager
async def console_as(svc: Service, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own, signed in to the console with a key."""
    transport = httpx.ASGITransport(app=svc.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://alerts.test") as client:
        login = await client.get("/ui/login")
        match = re.search(r'<meta name="csrf-token" content="([^"]+)">', login.text)
        assert match, login.text
        form = {"csrf": match.group(1), "key": secret(key), "next": "/ui/"}
        answer = await client.post("/ui/login", data=form)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
        yield client


async def submit(svc: Service, key: str, **overrides: Any) -> None:
    headers = {"Authorization": f"Bearer {secret(key)}"}
    response = await svc.client.post("/alerts", json=alert_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text


async def test_a_team_key_sees_only_its_teams_figures(teams: Service) -> None:
    await submit(teams, "a-writer", alert_type="disk_full", source="db-1", severity="high")
    await submit(teams, "b-writer", alert_type="cpu", source="web-1", severity="critical")
    await submit(teams, "b-writer", alert_type="cpu", source="web-2", severity="critical")

    async with console_as(teams, "a-reader") as a_reader:
        page = await stats_page(a_reader)
        assert page.figures["alerts"] == "1"
        assert {s for s, _, _ in page.marks["chart-alerts"]} == {"high"}
        assert {at for _, at, _ in page.marks["chart-types"]} == {"disk_full"}
        assert {at for _, at, _ in page.marks["chart-sources"]} == {"db-1"}
        refused = await a_reader.get("/ui/stats", params={"team": "b"})
        assert refused.status_code == 403 and "reads team" in refused.text
        assert 'name="team"' not in (await a_reader.get("/ui/stats")).text  # no team box to fill

    async with console_as(teams, "all-reader") as everyone:
        assert (await stats_page(everyone)).figures["alerts"] == "3"
        only_b = await stats_page(everyone, team="b")
        assert only_b.figures["alerts"] == "2"
        assert {at for _, at, _ in only_b.marks["chart-sources"]} == {"web-1", "web-2"}


async def test_the_page_needs_a_session_when_keys_are_configured(teams: Service) -> None:
    response = await teams.client.get("/ui/stats", params={"range": "7d"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fstats%3Frange%3D7d"
