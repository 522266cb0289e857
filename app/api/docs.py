"""The API description behind a key, when `public_docs` is false.

FastAPI serves /openapi.json, /docs and /redoc to anyone; create_app turns
those off and mounts these instead, which need a `read` key. Tools (a client
generator, a fuzzer) fetch the spec with the key in a header; a browser
cannot send one, so private docs are for tools, not for people.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from app.api.auth import AUTH_RESPONSES, ReadAccess

router = APIRouter(include_in_schema=False, dependencies=[ReadAccess], responses=AUTH_RESPONSES)


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    app: FastAPI = request.app
    return JSONResponse(app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - docs")


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title=f"{request.app.title} - docs")
