"""Routing: which of its team's routes a new alert takes, from a table kept in
memory per process.

A submission must not pay a database round trip to be routed, so each
process keeps its database's routes compiled (`RoutingTable`), with what the
write path needs of their policies (id, name, the first step's
`after_minutes`). `Routing` reloads it every `REFRESH_SECONDS` in the
background (the routes and policies are few: two small reads, and the
matchers are compiled again only when a row changed), and at once after a
change made through this process, before that change is answered. A change
made through another replica is seen within about a second.

The matchers are the silences' (services/silence_index.py compiles one
matcher; RE2 full match; a missing label reads as ""). Routes of the team
are tried by position: the first that matches wins; with `continue`, the
later ones that match apply too. The alert takes the policy of the first
matched route that names one, and the union of their channels in order.

The table of the settings a process runs with is found by those settings
(`install`, `current`), as services/decisions.py finds its answers: every
caller of the write path already holds them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.models import EscalationPolicy, Route
from app.services.silence_index import CompiledMatcher, compile_matchers
from app.settings import Settings

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    id: Any  # uuid.UUID
    name: str
    first_after_minutes: float  # steps[0].after_minutes: when the first step is due


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    id: Any  # uuid.UUID
    name: str
    matchers: tuple[CompiledMatcher, ...]
    policy: PolicyEntry | None
    channels: tuple[str, ...]
    continue_matching: bool


@dataclass(frozen=True, slots=True)
class Routed:
    """What the matched routes give an alert."""

    routes: tuple[CompiledRoute, ...]
    policy: PolicyEntry | None
    channels: tuple[str, ...]


class RoutingTable:
    """Each team's routes, in the order they are tried."""

    __slots__ = ("_by_team", "_regex")

    def __init__(self, by_team: Mapping[str, Sequence[CompiledRoute]]) -> None:
        self._by_team = {team: tuple(routes) for team, routes in by_team.items() if routes}
        self._regex = {
            team: any(m.pattern is not None for route in routes for m in route.matchers)
            for team, routes in self._by_team.items()
        }

    def __bool__(self) -> bool:
        return bool(self._by_team)

    def route(
        self, *, team: str, alert_type: str, source: str, severity: str, labels: Mapping[str, str]
    ) -> Routed | None:
        """None when no route of the team matches: the default route (the
        settings' policy and channels)."""
        routes = self._by_team.get(team)
        if routes is None:
            return None
        fields: dict[str, str] = {"alert_type": alert_type, "source": source, "severity": severity}
        for key, value in labels.items():
            fields[f"labels.{key}"] = value
        encoded = {name: value.encode() for name, value in fields.items()} if self._regex[team] else {}
        matched: list[CompiledRoute] = []
        for route in routes:
            if all(matcher.matches(fields, encoded) for matcher in route.matchers):
                matched.append(route)
                if not route.continue_matching:
                    break
        if not matched:
            return None
        policy = next((route.policy for route in matched if route.policy is not None), None)
        channels = tuple(dict.fromkeys(name for route in matched for name in route.channels))
        return Routed(tuple(matched), policy, channels)


EMPTY = RoutingTable({})


def build(
    routes: Sequence[Mapping[str, Any]], policies: Mapping[Any, PolicyEntry], channels: Mapping[str, object]
) -> RoutingTable:
    """The table of stored routes (ordered by team, position, creation);
    channels no longer configured are left out."""
    by_team: dict[str, list[CompiledRoute]] = {}
    for row in routes:
        compiled = compile_matchers(row["id"], row["matchers"])
        if compiled is None:  # a pattern RE2 refuses (checked at creation): the route matches nothing
            continue
        by_team.setdefault(row["team"], []).append(
            CompiledRoute(
                id=row["id"],
                name=row["name"],
                matchers=compiled,
                policy=policies.get(row["escalation_policy_id"]),
                channels=tuple(name for name in row["channels"] if name in channels),
                continue_matching=bool(row["continue_matching"]),
            )
        )
    return RoutingTable(by_team)


class Routing:
    """One database's routing table in this process."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.table = EMPTY
        self._seen: tuple[list[dict[str, Any]], dict[Any, PolicyEntry]] | None = None
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        """Read the routes and policies again; compile only when one changed."""
        async with self._lock:
            seen = await transaction.read(self.sessionmaker, _read)
            if seen != self._seen:  # compared whole: updated_at may not move (a clock standing still)
                self.table = build(*seen, self.settings.channels)
                self._seen = seen

    async def start(self) -> None:
        """The first load; a database down at start-up is retried by the refresh."""
        try:
            await self.reload()
        except Exception as exc:
            log.warning("routing table not loaded yet (%s); retrying in the background", type(exc).__name__)


async def _read(session: AsyncSession) -> tuple[list[dict[str, Any]], dict[Any, PolicyEntry]]:
    """The routes in the order they are tried, and the policies."""
    found = await session.execute(
        select(
            Route.id,
            Route.team,
            Route.name,
            Route.matchers,
            Route.escalation_policy_id,
            Route.channels,
            Route.continue_matching,
        ).order_by(Route.team, Route.position, Route.created_at, Route.id)
    )
    rows = [dict(row._mapping) for row in found]
    policies = {
        policy_id: PolicyEntry(policy_id, name, float(steps[0]["after_minutes"]))
        for policy_id, name, steps in await session.execute(
            select(EscalationPolicy.id, EscalationPolicy.name, EscalationPolicy.steps)
        )
    }
    return rows, policies


# settings -> the routing of the process that runs with them.
_INSTALLED: dict[int, tuple[Settings, Routing]] = {}


def install(routing: Routing) -> None:
    _INSTALLED[id(routing.settings)] = (routing.settings, routing)


def uninstall(routing: Routing) -> None:
    found = _INSTALLED.get(id(routing.settings))
    if found is not None and found[1] is routing:
        del _INSTALLED[id(routing.settings)]


def current(settings: Settings) -> RoutingTable:
    """The routing table of the process running with these settings; empty
    when none runs (a test of the write path without an app)."""
    found = _INSTALLED.get(id(settings))
    return found[1].table if found is not None and found[0] is settings else EMPTY


async def changed(settings: Settings) -> None:
    """A change of routes or policies was committed through this process:
    reload at once, so that the next submission here sees it."""
    found = _INSTALLED.get(id(settings))
    if found is not None and found[0] is settings:
        await found[1].reload()
