"""A team's whole on-call configuration as one TOML document: export and
import (services/oncall/export.py and imports.py; the document is
app/oncall_document.py, its TOML app/oncall_toml.py).

`read` exports, `oncall:manage` imports. A key of one team exports and
imports its own team only; a key of every team (or `admin`) names the team
(`team=` to export, the document's `team` to import).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, OncallCaller, ReadCaller, team_to_read
from app.api.deps import NowDep, SessionDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.oncall_document import OncallDocument, OncallImportRead
from app.oncall_toml import CONTENT_TYPE, dumps, loads
from app.services.oncall import export, imports, routing
from app.settings import TEAM_PATTERN

router = APIRouter(
    prefix="/oncall",
    tags=["on call"],
    responses={**AUTH_RESPONSES, 422: ERROR_RESPONSES[422], 503: ERROR_RESPONSES[503]},
)

_TOML = {"schema": {"type": "string", "description": "An on-call document, TOML (see docs/oncall.md)"}}


@router.get(
    "/export",
    summary="A team's on-call configuration as TOML",
    description="The team's users, schedules (with their overrides that have not ended), escalation "
    "policies and routes, by name, as a TOML document to keep in git and `POST /oncall/import` again. "
    "The same configuration is always the same bytes. A key of one team exports its own team; a key "
    "of every team names it with `team` (default: `default`).",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: _TOML}, "description": "The TOML document"}},
)
async def export_document(
    caller: ReadCaller,
    session: SessionDep,
    now: NowDep,
    team: Annotated[
        str | None,
        Query(pattern=TEAM_PATTERN, description="The team to export (a key of one team: its own)"),
    ] = None,
) -> Response:
    chosen = team_to_read(caller, team) or caller.home_team
    async with session.begin():
        document = await export.export_team(session, team=chosen, now=now)
    return Response(dumps(document), media_type=f"{CONTENT_TYPE}; charset=utf-8")


@router.post(
    "/import",
    response_model=OncallImportRead,
    summary="Replace a team's on-call configuration with a TOML document",
    description="In one transaction, the document becomes the team's configuration: users matched by "
    "name are updated and join the team, members left out leave it (and are deleted when in no team "
    "any more); schedules, policies and routes matched by name are updated in place, others created, "
    "those left out deleted; overrides that have not ended are replaced. Every reference is checked "
    "first (422 naming the path in the document, e.g. `routes.2.escalation_policy`). `dry_run` answers "
    "what would change and writes nothing. A key of one team imports its own team only.",
    responses={409: ERROR_RESPONSES[409], 413: ERROR_RESPONSES[413]},
    openapi_extra={"requestBody": {"required": True, "content": {CONTENT_TYPE: _TOML, "text/plain": _TOML}}},
)
async def import_document(
    request: Request,
    caller: OncallCaller,
    settings: SettingsDep,
    now: NowDep,
    dry_run: Annotated[bool, Query(description="Answer what would change; write nothing")] = False,
) -> OncallImportRead:
    document = _document(await request.body())

    async def work(session: AsyncSession) -> OncallImportRead:
        return await imports.import_document(
            session,
            document=document,
            confined=caller.confined_to,
            settings=settings,
            by=caller.name,
            now=now,
            dry_run=dry_run,
        )

    if dry_run:  # it only reads: on SQLite it does not wait for, or hold, the write lock
        return await transaction.read(request.app.state.sessionmaker, work)
    done = await transaction.run(request.app.state.sessionmaker, work)
    await routing.changed(settings)  # this process routes by the new routes from the next submission
    return done


def _document(body: bytes) -> OncallDocument:
    data: Any = loads(body)
    try:
        return OncallDocument.model_validate(data)
    except ValidationError as exc:
        # The one 422 shape of every body, each error naming its path in the document.
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
