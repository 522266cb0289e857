"""`alerts policies ...` and `alerts routes ...`: a team's escalation
policies and routes, made from a JSON or TOML file (the fields of POST
/escalation-policies and POST /routes), and `alerts routes test` to see what
the routes do to an example alert."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from typing import Any

from app.cli.commands import UsageError, _pairs, _read, emit
from app.cli.output import as_json, table
from app.client import AlertClient
from app.client.models import Route, TeamPolicy


def add_commands(command: Any, common: argparse.ArgumentParser, severities: tuple[str, ...]) -> None:
    """The two command groups, on the parser's `command(name, help)`; each
    action takes the `common` options too."""
    policies = command("policies", "a team's escalation policies: list, show, create, delete")
    _crud(policies, common, "policy", "a policy as JSON or TOML (the fields of POST /escalation-policies)")
    routes = command("routes", "a team's routes: list, show, create, delete, test")
    actions = _crud(routes, common, "route", "a route as JSON or TOML (the fields of POST /routes)")
    test = actions.add_parser(
        "test", parents=[common], help="which routes an example alert takes (nothing is created)"
    )
    test.add_argument("-s", "--severity", required=True, choices=severities)
    test.add_argument("-t", "--type", dest="alert_type", help="alert type (default: example)")
    test.add_argument("--source", help="default: example")
    test.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    test.add_argument(
        "--channel", action="append", metavar="NAME", help="repeatable: channels the alert names"
    )
    test.add_argument("--team", help="one team's routes (keys of every team)")


def _crud(parser: argparse.ArgumentParser, common: argparse.ArgumentParser, what: str, file_help: str) -> Any:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[common], help=f"every {what} of the team (the default action)"
    )
    listing.add_argument("--team", help="one team's (keys of every team)")
    for name in ("show", "delete"):
        one = actions.add_parser(name, parents=[common], help=f"{name} one {what}, by name or id")
        one.add_argument("name", metavar="NAME")
        one.add_argument("--team", help="the team of the name (keys of every team)")
    create = actions.add_parser("create", parents=[common], help=f"make a {what} from a file")
    create.add_argument("file", metavar="FILE", help=f"{file_help}; - for JSON on stdin")
    parser.set_defaults(action="list", team=None)
    return actions


def _load(path: str) -> dict[str, Any]:
    text = sys.stdin.read() if path == "-" else _read(path)
    try:
        found = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: not {'TOML' if path.endswith('.toml') else 'JSON'}: {exc}") from exc
    if not isinstance(found, dict):
        raise UsageError(f"{path}: expected one object")
    return found


def _one(found: list[Any], name: str, what: str) -> Any:
    for item in found:
        if item.name == name or str(item.id) == name:
            return item
    raise UsageError(f"no {what} named {name!r}")


def _targets(policy: TeamPolicy) -> str:
    return "; ".join(f"+{step.after_minutes:g}m {', '.join(step.notify)}" for step in policy.steps)


def _matchers(route: Route) -> str:
    return (
        " ".join(f"{m.name}{'=~' if m.is_regex else '='}{m.value}" for m in route.matchers) or "(every alert)"
    )


def policies(client: AlertClient, args: argparse.Namespace) -> str:
    if args.action == "create":
        made = client.create_policy(_load(args.file))
        return emit(args, made, f"created policy {made.name} ({made.id}) of team {made.team}")
    found = client.list_policies(team=args.team)
    if args.action == "list":
        rows = [
            (p.name, p.team, _targets(p), p.repeat_last_step, p.repeat_every_minutes or "") for p in found
        ]
        text = table(("name", "team", "steps", "repeats", "every min"), rows) if rows else "no policies"
        return emit(args, [p.model_dump(mode="json") for p in found], text)
    policy = _one(found, args.name, "policy")
    if args.action == "delete":
        gone = client.delete_policy(policy.id)
        return emit(args, gone, f"deleted policy {gone.name} ({gone.id})")
    return as_json(policy.model_dump(mode="json"))


def routes(client: AlertClient, args: argparse.Namespace) -> str:
    if args.action == "test":
        return _test(client, args)
    if args.action == "create":
        made = client.create_route(_load(args.file))
        return emit(args, made, f"created route {made.name} ({made.id}) of team {made.team}")
    found = client.list_routes(team=args.team)
    if args.action == "list":
        rows = [
            (r.position, r.name, r.team, _matchers(r), r.escalation_policy or "", ",".join(r.channels),
             "yes" if r.continue_matching else "")
            for r in found
        ]  # fmt: skip
        header = ("position", "name", "team", "matchers", "policy", "channels", "continue")
        text = table(header, rows) if rows else "no routes"
        return emit(args, [r.model_dump(mode="json", by_alias=True) for r in found], text)
    route = _one(found, args.name, "route")
    if args.action == "delete":
        gone = client.delete_route(route.id)
        return emit(args, gone, f"deleted route {gone.name} ({gone.id})")
    return as_json(route.model_dump(mode="json", by_alias=True))


def _test(client: AlertClient, args: argparse.Namespace) -> str:
    body: dict[str, Any] = {"severity": args.severity, "labels": _pairs(args.label, "--label")}
    for name in ("alert_type", "source", "team"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.channel:
        body["channels"] = args.channel
    result = client.test_routes(body)
    policy = result.escalation_policy
    text = "\n".join(
        [
            f"routes:   {', '.join(r.name for r in result.routes) or '(none: the default route)'}",
            f"policy:   {policy.name if policy else '(the configured [escalation] policy)'}",
            f"channels: {', '.join(result.channels)}",
        ]
    )
    return emit(args, result, text)


HANDLERS = {"policies": policies, "routes": routes}
