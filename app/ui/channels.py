"""The console's channels page: each configured channel with the figures
GET /channels gives (services/channels.py, the one place they are
computed), its outstanding error, and a "Send test" button.

The button queues a test notification exactly as POST /channels/{name}/test
does (services/outbox.queue_test, then a wake of the delivery worker) and
comes back to the page with the notification's id; the page shows how that
notification fares, and polls for it while it waits to be sent.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import NowDep, SessionDep, SettingsDep
from app.db import transaction
from app.errors import InvalidInput, NotFound
from app.models import OutboxRow
from app.services import outbox
from app.services.channels import channel_figures, channel_test, last_errors
from app.ui.alerts import ConsoleCaller
from app.ui.routing import ConsoleRoute, read_form, see_other
from app.ui.session import require
from app.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=ConsoleRoute)

# A test notification still waiting: its outcome is asked for again this often.
POLL_SECONDS = 1


def _test_id(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput("test is not a notification id", field="test") from exc


@router.get("/channels", response_class=HTMLResponse)
async def channel_page(
    request: Request,
    caller: ConsoleCaller,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    test: str = "",
) -> HTMLResponse:
    test_id = _test_id(test)
    async with session.begin():
        figures = await channel_figures(session, settings, now=now)
        errors = await last_errors(session, list(settings.channels))
        sent_test = await channel_test(session, test_id) if test_id else None
    context = {
        "channels": figures,
        "errors": errors,
        "test": sent_test,
        "poll_seconds": POLL_SECONDS,
    }
    return await render(request, "channels.html", context, caller=caller)


@router.get("/channels/tests/{notification_id}", response_class=HTMLResponse)
async def test_outcome(
    notification_id: uuid.UUID, request: Request, caller: ConsoleCaller, session: SessionDep
) -> HTMLResponse:
    """The test's outcome alone, for the page's poll while it waits."""
    async with session.begin():
        sent_test = await channel_test(session, notification_id)
    context = {"test": sent_test, "poll_seconds": POLL_SECONDS}
    return await render(request, "channel_test.html", context, caller=caller)


@router.post("/channels/{name}/test")
async def send_test(
    name: str, request: Request, caller: ConsoleCaller, settings: SettingsDep, now: NowDep
) -> RedirectResponse:
    await read_form(request)
    require(caller, "alerts:manage")  # as the API's channel test
    if name not in settings.channels:
        raise NotFound(f"channel {name[:100]!r} is not configured", field="name")

    async def work(session: AsyncSession) -> OutboxRow:
        return await outbox.queue_test(session, channel=name, now=now)

    row = await transaction.run(request.app.state.sessionmaker, work)
    request.app.state.wake_delivery()
    return see_other(f"/ui/channels?test={row.id}")
