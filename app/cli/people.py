"""`alerts users ...`, `alerts schedules ...` and `alerts overrides ...`: the
people who can be on call, a team's schedules (made from a JSON or TOML file,
the fields of POST /users and POST /schedules) and their overrides, one at a
time; `alerts oncall export` / `import` move a team's whole configuration.

A schedule's participants and an override's user may be given by name: the
command looks them up among the team's users."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from app.cli.commands import _when, emit
from app.cli.output import as_json, table
from app.cli.routing import _crud, _load, _one
from app.client import AlertClient
from app.client.models import Schedule, User


def add_commands(command: Any, common: argparse.ArgumentParser) -> None:
    users_ = command("users", "the people who can be on call: list, show, create, delete")
    _crud(users_, common, "user", "a user as JSON or TOML (the fields of POST /users)")
    schedules_ = command("schedules", "a team's schedules: list, show, create, delete")
    _crud(
        schedules_, common, "schedule",
        "a schedule as JSON or TOML (the fields of POST /schedules; participants by id or name)",
    )  # fmt: skip
    overrides_ = command("overrides", "a schedule's overrides: list, add, delete")
    actions = overrides_.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="the overrides of a schedule, by its name")
    listing.add_argument("schedule", metavar="SCHEDULE")
    listing.add_argument("--from", dest="start", metavar="T", help="ISO 8601 (default: now)")
    listing.add_argument("--to", dest="end", metavar="T", help="ISO 8601 (default: 90 days after --from)")
    add = actions.add_parser("add", parents=[common], help="USER covers SCHEDULE from --start to --end")
    add.add_argument("schedule", metavar="SCHEDULE")
    add.add_argument("user", metavar="USER", help="by name or id")
    add.add_argument("--start", required=True, metavar="T", help="ISO 8601 (UTC without a zone)")
    add.add_argument("--end", required=True, metavar="T", help="ISO 8601 (UTC without a zone)")
    add.add_argument("--note")
    delete = actions.add_parser("delete", parents=[common], help="delete one override, by id")
    delete.add_argument("schedule", metavar="SCHEDULE")
    delete.add_argument("override_id", metavar="OVERRIDE_ID")
    for each in (listing, add, delete):
        each.add_argument("--team", help="the team of the schedule (keys of every team)")


def _user_id(found: list[User], name: str) -> str:
    try:
        return str(uuid.UUID(name))
    except ValueError:
        return str(_one(found, name, "user").id)


def users(client: AlertClient, args: argparse.Namespace) -> str:
    if args.action == "create":
        made = client.create_user(_load(args.file))
        return emit(args, made, f"created user {made.name} ({made.id}) of {', '.join(made.teams)}")
    found = client.list_users(team=args.team)
    if args.action == "list":
        rows = [
            (u.name, u.full_name or "", u.time_zone, ",".join(u.teams), ", ".join(c.type for c in u.contact_methods))
            for u in found
        ]  # fmt: skip
        text = table(("name", "full name", "time zone", "teams", "contacts"), rows) if rows else "no users"
        return emit(args, [u.model_dump(mode="json") for u in found], text)
    user = _one(found, args.name, "user")
    if args.action == "delete":
        gone = client.delete_user(user.id)
        return emit(args, gone, f"deleted user {gone.name} ({gone.id})")
    return as_json(user.model_dump(mode="json"))


def schedules(client: AlertClient, args: argparse.Namespace) -> str:
    if args.action == "create":
        body = _load(args.file)
        layers = body.get("layers")
        if isinstance(layers, list) and any(isinstance(layer, dict) for layer in layers):
            people = client.list_users(team=body.get("team", args.team))
            for layer in layers:
                if isinstance(layer, dict) and isinstance(layer.get("participants"), list):
                    layer["participants"] = [
                        _user_id(people, p) if isinstance(p, str) else p for p in layer["participants"]
                    ]
        made = client.create_schedule(body)
        return emit(args, made, f"created schedule {made.name} ({made.id}) of team {made.team}")
    found = client.list_schedules(team=args.team)
    if args.action == "list":
        rows = [(s.name, s.team, s.time_zone, ", ".join(layer.name for layer in s.layers)) for s in found]
        text = table(("name", "team", "time zone", "layers"), rows) if rows else "no schedules"
        return emit(args, [s.model_dump(mode="json") for s in found], text)
    schedule = _one(found, args.name, "schedule")
    if args.action == "delete":
        gone = client.delete_schedule(schedule.id)
        return emit(args, gone, f"deleted schedule {gone.name} ({gone.id})")
    return as_json(schedule.model_dump(mode="json"))


def overrides(client: AlertClient, args: argparse.Namespace) -> str:
    schedule: Schedule = _one(client.list_schedules(team=args.team), args.schedule, "schedule")
    if args.action == "add":
        start, end = _when(args.start, "--start"), _when(args.end, "--end")
        body: dict[str, Any] = {
            "user_id": _user_id(client.list_users(team=schedule.team), args.user),
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        }
        if args.note is not None:
            body["note"] = args.note
        made = client.add_override(schedule.id, body)
        return emit(
            args, made, f"added override {made.id}: {made.user.name} covers {schedule.name} "
            f"from {made.start.isoformat()} to {made.end.isoformat()}",
        )  # fmt: skip
    if args.action == "delete":
        gone = client.delete_override(schedule.id, args.override_id)
        return emit(args, gone, f"deleted override {gone.id} ({gone.user.name} on {schedule.name})")
    found = client.list_overrides(schedule.id, start=_when(args.start, "--from"), end=_when(args.end, "--to"))
    rows = [(o.id, o.user.name, o.start.isoformat(), o.end.isoformat(), o.note or "") for o in found]
    text = table(("id", "user", "start", "end", "note"), rows) if rows else "no overrides"
    return emit(args, [o.model_dump(mode="json") for o in found], text)


HANDLERS = {"users": users, "schedules": schedules, "overrides": overrides}
