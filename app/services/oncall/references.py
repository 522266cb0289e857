"""Which escalation policies name a schedule or a user.

Policies name their targets (`schedule:<name>`, `user:<name>`), so a
schedule or a user a policy names is not deleted, renamed, or (a user) taken
out of the policy's team: the policy would otherwise point at nobody. The
policies of a team are few; their steps are read and looked through here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.models import EscalationPolicy
from app.routing_schemas import TargetKind, parse_target


async def naming(session: AsyncSession, *, teams: list[str], kind: TargetKind, name: str) -> list[str]:
    """The names of the policies of `teams` whose steps name `kind:name`, as `team/policy`."""
    if not teams:
        return []
    found = []
    for team, policy, steps in await session.execute(
        select(EscalationPolicy.team, EscalationPolicy.name, EscalationPolicy.steps)
        .where(EscalationPolicy.team.in_(sorted(teams)))
        .order_by(EscalationPolicy.team, EscalationPolicy.name)
    ):
        targets = (parse_target(target) for step in steps for target in step.get("notify", ()))
        if any(t.kind == kind and t.name == name for t in targets):
            found.append(f"{team}/{policy}")
    return found


async def refuse_if_named(
    session: AsyncSession, *, teams: list[str], kind: TargetKind, name: str, doing: str, field: str
) -> None:
    """Conflict when a policy of `teams` names `kind:name`."""
    named = await naming(session, teams=teams, kind=kind, name=name)
    if named:
        raise Conflict(
            f"cannot {doing}: {kind} {name!r} is named by escalation policy(ies) {', '.join(named)}; "
            "change them first",
            field=field,
        )
