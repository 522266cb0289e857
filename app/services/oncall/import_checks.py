"""What a whole on-call document must hold together, checked before an
import writes anything: names unique per kind, every user, schedule, policy
and channel it names present (in the document, or among the configured
channels), and regular expressions that RE2 accepts.

The document replaces the team's configuration, so its users are exactly
the team's members afterwards: a participant, an overriding user or a
`user:` target must be one of them. Each refusal is a 422 naming the path
in the document (`schedules.0.layers.1.participants.0`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from app.errors import InvalidInput
from app.oncall_document import DocumentRoute, OncallDocument
from app.routing_schemas import parse_target
from app.services import silence_limits
from app.settings import Settings


def check_document(document: OncallDocument, *, settings: Settings) -> None:
    channels = settings.channels.keys()
    users = _unique("users", [u.name for u in document.users])
    schedules = _unique("schedules", [s.name for s in document.schedules])
    policies = _unique("escalation_policies", [p.name for p in document.escalation_policies])
    _unique("routes", [r.name for r in document.routes])

    for i, schedule in enumerate(document.schedules):
        for j, layer in enumerate(schedule.layers):
            for k, name in enumerate(layer.participants):
                if name not in users:
                    raise InvalidInput(
                        f"participant {name!r} is not one of the document's users",
                        field=f"schedules.{i}.layers.{j}.participants.{k}",
                    )
        for j, override in enumerate(schedule.overrides):
            if override.user not in users:
                raise InvalidInput(
                    f"user {override.user!r} is not one of the document's users",
                    field=f"schedules.{i}.overrides.{j}.user",
                )

    for i, policy in enumerate(document.escalation_policies):
        for j, step in enumerate(policy.steps):
            for k, target in enumerate(step.notify):
                problem = _target_problem(target, users=users, schedules=schedules, channels=channels)
                if problem:
                    raise InvalidInput(problem, field=f"escalation_policies.{i}.steps.{j}.notify.{k}")

    for i, route in enumerate(document.routes):
        _check_route(route, f"routes.{i}", policies=policies, channels=channels)
        silence_limits.check_matchers(route.matchers, settings, kind="route", field=f"routes.{i}.matchers")


def _unique(kind: str, names: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise InvalidInput(f"two {kind.replace('_', ' ')} are named {name!r}", field=f"{kind}.{i}.name")
        seen.add(name)
    return seen


def _target_problem(
    target: str, *, users: set[str], schedules: set[str], channels: Collection[str]
) -> str | None:
    parsed = parse_target(target)  # a bare name is a channel
    kind, name = parsed.kind, parsed.name
    if kind == "schedule" and name not in schedules:
        return f"{target!r}: no schedule of the document is named {name!r}"
    if kind == "user" and name not in users:
        return f"{target!r}: no user of the document is named {name!r}"
    if kind == "channel" and name not in channels:
        return (
            f"{target!r}: no channel named {name!r} is configured "
            f"(a target is schedule:<name>, user:<name>, channel:<name> or a channel's name)"
        )
    return None


def _check_route(route: DocumentRoute, where: str, *, policies: set[str], channels: Collection[str]) -> None:
    if route.escalation_policy is not None and route.escalation_policy not in policies:
        raise InvalidInput(
            f"no escalation policy of the document is named {route.escalation_policy!r}",
            field=f"{where}.escalation_policy",
        )
    for j, channel in enumerate(route.channels):
        if channel not in channels:
            raise InvalidInput(f"no channel named {channel!r} is configured", field=f"{where}.channels.{j}")
