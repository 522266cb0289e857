"""The live list's change stream: one watcher per process, an event per change."""

from __future__ import annotations

import asyncio

from app.ui.live import ChangeWatcher
from tests.conftest import Service
from tests.helpers import alert_body


class OpenRequest:
    """A listener that stays connected."""

    async def is_disconnected(self) -> bool:
        return False


async def _next_event(stream: object) -> str:
    return await asyncio.wait_for(stream.__anext__(), timeout=5)  # type: ignore[attr-defined]


async def test_a_new_alert_and_a_move_each_send_changed(service: Service) -> None:
    watcher = ChangeWatcher(service.app.state.sessionmaker, interval=0.05)
    stream = watcher.stream(OpenRequest(), None)  # type: ignore[arg-type]
    assert (await _next_event(stream)).startswith("retry: ")
    created = await service.client.post("/alerts", json=alert_body())
    first = await _next_event(stream)
    assert first.startswith("event: changed\nid: ")
    await service.client.patch(f"/alerts/{created.json()['id']}/acknowledge", json={"by": "bob"})
    second = await _next_event(stream)
    assert second.startswith("event: changed\nid: ") and second != first
    await stream.aclose()
    await watcher.close()


async def test_a_reconnecting_browser_hears_at_once_what_it_missed(service: Service) -> None:
    watcher = ChangeWatcher(service.app.state.sessionmaker, interval=0.05)
    first = watcher.stream(OpenRequest(), None)  # type: ignore[arg-type]
    await _next_event(first)
    await service.client.post("/alerts", json=alert_body())
    seen = (await _next_event(first)).split("\n")[1].removeprefix("id: ")
    await first.aclose()
    await service.client.post("/alerts", json=alert_body(alert_type="another"))  # while away
    again = watcher.stream(OpenRequest(), int(seen))  # type: ignore[arg-type]
    await _next_event(again)  # retry
    assert (await _next_event(again)).startswith("event: changed")
    await again.aclose()
    await watcher.close()


async def test_the_events_route_streams_for_a_signed_in_caller(service: Service) -> None:
    async with service.client.stream("GET", "/ui/events") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        first = await asyncio.wait_for(answer.aiter_text().__anext__(), timeout=5)
        assert first.startswith("retry: ")
