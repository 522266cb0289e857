from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.auth import AUTH_RESPONSES, ReadCaller, team_to_read
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.schemas import NAME_PATTERN, Moment, StatsRead
from app.services.stats import StatsQuery, compute

router = APIRouter(tags=["stats"], responses=AUTH_RESPONSES)


@router.get(
    "/stats",
    response_model=StatsRead,
    summary="Alert, resolution, dedup, escalation and channel figures",
    description="Alerts are selected by first_seen_at in [since, until); escalations by their time; "
    "notifications by their creation time. `alert_type`, `source` and `team` narrow all of them; "
    "a key confined to a team counts its team's alerts only.",
    responses={422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)
async def get_stats(
    caller: ReadCaller,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    since: Annotated[Moment | None, Query(description="ISO 8601 with a zone, inclusive")] = None,
    until: Annotated[Moment | None, Query(description="ISO 8601 with a zone, exclusive")] = None,
    alert_type: Annotated[str | None, Query(max_length=200, pattern=NAME_PATTERN)] = None,
    source: Annotated[str | None, Query(max_length=200, pattern=NAME_PATTERN)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
) -> StatsRead:
    query = StatsQuery(
        since=since, until=until, alert_type=alert_type, source=source, team=team_to_read(caller, team)
    )
    async with session.begin():
        figures = await compute(session, query=query, settings=settings, now=now)
    return StatsRead.model_validate(figures)
