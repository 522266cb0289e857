"""Request latency, timed in front of the routes.

A middleware, so requests no route answers (a 404, a body refused by the
size limit) are timed too. The histogram lives in app/metrics.py, where the
POST /alerts layer (fast_submit.py), which runs before this, reports too.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import observe_request


class RequestMetricsMiddleware:
    """Times every HTTP request, labelled by route template (not raw path,
    which would make one series per alert id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            observe_request(
                scope["method"], getattr(scope.get("route"), "path", "unmatched"), status, started
            )
