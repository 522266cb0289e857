"""The routing table, pure: first match, `continue`, no match (the default
route), regular expressions, a missing label, teams, channels no longer
configured (services/oncall/routing.py)."""

from __future__ import annotations

import uuid
from typing import Any

from app.services.oncall.routing import PolicyEntry, Routed, RoutingTable, build

PAGER = PolicyEntry(uuid.uuid4(), "pager", 5.0)
SLOW = PolicyEntry(uuid.uuid4(), "slow", 60.0)
CONFIGURED = {"ops": None, "pager": None, "console": None}


def row(name: str, *matchers: dict[str, Any], team: str = "a", **fields: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "team": team,
        "name": name,
        "matchers": list(matchers),
        "escalation_policy_id": fields.get("policy"),
        "channels": fields.get("channels", []),
        "continue_matching": fields.get("continue_matching", False),
    }


def table(*rows: dict[str, Any]) -> RoutingTable:
    return build(list(rows), {PAGER.id: PAGER, SLOW.id: SLOW}, CONFIGURED)


def route(routes: RoutingTable, team: str = "a", severity: str = "critical", **labels: str) -> Routed | None:
    return routes.route(team=team, alert_type="disk_full", source="db-1", severity=severity, labels=labels)


def names(routed: Routed | None) -> list[str]:
    return [] if routed is None else [r.name for r in routed.routes]


def eq(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "is_regex": False}


def regex(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "is_regex": True}


def test_the_first_matching_route_wins() -> None:
    routes = table(
        row("prod", eq("labels.env", "prod"), policy=PAGER.id, channels=["pager"]),
        row("critical", eq("severity", "critical"), policy=SLOW.id, channels=["ops"]),
    )
    routed = route(routes, env="prod")
    assert routed is not None
    assert (names(routed), routed.policy, routed.channels) == (["prod"], PAGER, ("pager",))
    assert names(route(routes, env="staging")) == ["critical"]


def test_continue_adds_later_matches_channels_and_the_first_policy_named_wins() -> None:
    routes = table(
        row("everything", channels=["ops"], continue_matching=True),
        row(
            "prod",
            eq("labels.env", "prod"),
            policy=PAGER.id,
            channels=["pager", "ops"],
            continue_matching=True,
        ),
        row("critical", eq("severity", "critical"), policy=SLOW.id, channels=["console"]),
        row("never", channels=["console"]),
    )
    routed = route(routes, env="prod")
    assert routed is not None
    assert names(routed) == ["everything", "prod", "critical"]
    assert (routed.policy, routed.channels) == (PAGER, ("ops", "pager", "console"))
    low = route(routes, severity="low")
    assert low is not None
    assert (names(low), low.policy, low.channels) == (["everything", "never"], None, ("ops", "console"))


def test_no_match_is_the_default_route() -> None:
    routes = table(row("prod", eq("labels.env", "prod"), policy=PAGER.id))
    assert route(routes, env="dev") is None
    assert route(routes, team="b", env="prod") is None  # another team's routes are not tried
    assert route(table(), env="prod") is None
    assert not table() and table(row("x"))


def test_regular_expressions_match_the_whole_value() -> None:
    routes = table(row("db", regex("source", "db-[0-9]+")), row("sev", regex("severity", "crit")))
    assert names(route(routes)) == ["db"]
    assert route(table(row("sev", regex("severity", "crit"))), severity="critical") is None
    assert names(route(table(row("sev", regex("severity", "crit.*"))), severity="critical")) == ["sev"]


def test_a_missing_label_reads_as_empty() -> None:
    routes = table(row("no-env", eq("labels.env", "")), row("any-env", regex("labels.env", ".+")))
    assert names(route(routes)) == ["no-env"]
    assert names(route(routes, env="prod")) == ["any-env"]
    assert route(table(row("prod", eq("labels.env", "prod")))) is None


def test_channels_no_longer_configured_and_refused_patterns_are_left_out() -> None:
    routes = table(
        row("broken", regex("source", "(a)\\1")),  # a pattern RE2 refuses: matches nothing
        row("gone", channels=["removed", "ops"], policy=uuid.uuid4()),  # its policy deleted meanwhile
    )
    routed = route(routes)
    assert routed is not None
    assert (names(routed), routed.channels, routed.policy) == (["gone"], ("ops",), None)
