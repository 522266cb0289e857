from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.auth import AUTH_RESPONSES, ManageAccess, ReadAccess
from app.api.deps import NowDep, SettingsDep
from app.api.errors import ERROR_RESPONSES
from app.db import transaction
from app.metrics import count_steps
from app.schemas import EscalationPolicyRead, EscalationStepRead, EscalationTickRead
from app.services.escalation import Step, escalate_due

router = APIRouter(prefix="/escalation", tags=["escalation"], responses=AUTH_RESPONSES)


@router.get(
    "/policy",
    dependencies=[ReadAccess],
    response_model=EscalationPolicyRead,
    summary="The escalation policy in force",
)
async def get_policy(settings: SettingsDep) -> EscalationPolicyRead:
    return EscalationPolicyRead.model_validate(settings.escalation.model_dump())


@router.post(
    "/tick",
    dependencies=[ManageAccess],
    response_model=EscalationTickRead,
    summary="Run one escalation tick now",
    description="What the periodic ticker does every `escalation_interval_seconds`, on demand.",
    responses={503: ERROR_RESPONSES[503]},
)
async def tick(request: Request, settings: SettingsDep, now: NowDep) -> EscalationTickRead:
    async def work(session: AsyncSession) -> list[Step]:
        return await escalate_due(session, now=now, settings=settings)

    # Run again once if the connection was lost before COMMIT (db/transaction.py).
    steps = await transaction.run(request.app.state.sessionmaker, work)
    count_steps(steps)
    if any(step.notifications for step in steps):
        request.app.state.wake_delivery()
    return EscalationTickRead(at=now, steps=[EscalationStepRead(**asdict(step)) for step in steps])
