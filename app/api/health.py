from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.db.outage import is_database_outage
from app.schemas import Health

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The database answers",
    responses={503: {"model": Health, "description": "Database unreachable"}},
)
async def readyz(request: Request) -> Health | JSONResponse:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # an outage is an answer here; anything else is a bug
        if not is_database_outage(exc) and not isinstance(exc, TimeoutError):
            raise
        body = Health(status="unavailable", database=type(exc).__name__)
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ready", database="ok")
