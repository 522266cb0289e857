"""Swagger UI (/docs) and ReDoc (/redoc), served with their own assets.

FastAPI's default pages load their JavaScript, CSS, favicon and fonts from
CDNs, so they stay blank on a network without internet access. Here the
pages point at `/docs-assets/`, served from the bundles the fastapi-offline
package ships, and ReDoc goes without Google Fonts.

With keys configured and `public_docs` off, the spec and the pages need a
`read` key. Tools (a client generator, a fuzzer) fetch the spec with the key
in a header; people sign in to the web console (app/ui), whose session a
browser sends with every request: the pages send someone without one to the
console's sign-in, and back. The assets are generic and stay public.
"""

from __future__ import annotations

from contextlib import suppress
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.api.auth import AUTH_RESPONSES, Caller, gate, presented_key
from app.errors import Forbidden
from app.ui.session import COOKIE, SignInRequired, console_caller

ASSETS = "/docs-assets"


# What the pages may load: this host only. ReDoc's bundle still names its
# logo on cdn.redoc.ly; the policy keeps the browser from asking for it.
# Inline scripts and styles are how both pages start themselves.
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:; frame-ancestors 'none'"
)


def _pinned(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page


async def _reader(request: Request) -> None:
    """Private docs: a console session of a `read` key, or the key in a
    header. A page asked for with neither is sent to sign in (the page
    routes see `docs_reader` unset); the spec answers 401."""
    caller: Caller | None = None
    if request.cookies.get(COOKIE):
        with suppress(SignInRequired, Forbidden):
            caller = await console_caller(request)
    presented = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    if caller is None and (presented is not None or request.url.path == "/openapi.json"):
        caller = gate(request, presented, "read")
    request.state.docs_reader = caller


def _sign_in_first(request: Request) -> RedirectResponse | None:
    if getattr(request.state, "docs_reader", True) is None:
        return RedirectResponse(f"/ui/login?next={request.url.path}", status_code=303)
    return None


async def _swagger_ui(request: Request) -> Response:
    if redirect := _sign_in_first(request):
        return redirect
    return _pinned(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{request.app.title} - docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
    )


async def _redoc(request: Request) -> Response:
    if redirect := _sign_in_first(request):
        return redirect
    return _pinned(
        get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{request.app.title} - docs",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
    )


def _router(*, private: bool) -> APIRouter:
    router = APIRouter(
        include_in_schema=False,
        dependencies=[Depends(_reader)] if private else [],
        responses=AUTH_RESPONSES if private else None,
    )
    if private:  # else FastAPI serves the spec itself

        @router.get("/openapi.json")
        async def openapi(request: Request) -> JSONResponse:
            app: FastAPI = request.app
            return JSONResponse(app.openapi())

    router.add_api_route("/docs", _swagger_ui, methods=["GET"])
    router.add_api_route("/redoc", _redoc, methods=["GET"])
    return router


# ReDoc's bundle shows a logo from cdn.redoc.ly in its footer: served here
# with that address pointing at the local favicon instead, so the page asks
# no other host for anything.
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _redoc_bundle() -> bytes:
    bundle = (files("fastapi_offline") / "static" / "redoc.standalone.js").read_bytes()
    return bundle.replace(_REDOC_LOGO.encode(), f"{ASSETS}/favicon.png".encode())


async def _redoc_js() -> Response:
    return Response(
        _redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


def install(app: FastAPI, *, private: bool) -> None:
    # Before the mount, which would otherwise answer this path with the original.
    app.add_api_route(f"{ASSETS}/redoc.standalone.js", _redoc_js, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")
    app.include_router(_router(private=private))
