"""Reject request bodies over the configured size with 413, before parsing.

Checks Content-Length up front and counts streamed bytes too, so a chunked
upload cannot get around it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response


def declared_too_large(declared: str | bytes, max_bytes: int) -> bool:
    """A Content-Length the limit refuses: over it, or not a length at all."""
    return not declared.isdigit() or int(declared) > max_bytes


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared_too_large(declared, self.max_bytes):
            await self._reject(scope, receive, send)
            return
        received = 0
        started = rejected = False

        async def counting_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not rejected:
                    # Answer now; the app then sees a client that went away.
                    rejected = True
                    if not started:
                        await self._reject(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent; drop whatever the app answers
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not rejected:
                raise

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large", f"request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)
