from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.auth import AUTH_RESPONSES, MetricsAccess
from app.api.deps import SessionDep
from app.metrics import CONTENT_TYPE, database_gauges, render

router = APIRouter(tags=["health"], dependencies=[MetricsAccess], responses=AUTH_RESPONSES)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(session: SessionDep) -> Response:
    async with session.begin():
        gauges = await database_gauges(session)
    return Response(render(gauges), media_type=CONTENT_TYPE)
