"""The client commands: one function each, returning the text to print."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from app.cli import follow as following
from app.cli import ops
from app.cli.output import as_json, fields, flatten, table
from app.client import AlertClient


class UsageError(Exception):
    """A bad argument the parser could not catch (exit code 2)."""


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> str:
    if args.json or text is None:
        return as_json(data.model_dump(mode="json") if isinstance(data, BaseModel) else data)
    return text


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _pairs(items: list[str], option: str, *, json_values: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} expects KEY=VALUE, got {item!r}")
        if json_values:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{option} expects an ISO 8601 time, got {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # a time without a zone is UTC


ALERT_FIELDS = (
    "id",
    "status",
    "severity",
    "alert_type",
    "source",
    "message",
    "labels",
    "channels",
    "escalation_level",
    "occurrences",
    "suppressed_count",
    "notifications_sent",
    "silenced",
    "first_seen_at",
    "last_seen_at",
    "acknowledged_by",
    "resolved_by",
    "resolution_notes",
    "resolution_minutes",
)


def _alert_text(alert: BaseModel, *first: tuple[str, Any]) -> str:
    data = alert.model_dump()
    return fields([*first, *((name, data.get(name)) for name in ALERT_FIELDS)])


def run(args: argparse.Namespace, handlers: dict[str, Callable[..., str]] | None = None) -> str:
    """`handlers`: more commands, by name (app/cli/routing.py's)."""
    with AlertClient(args.url, args.api_key, timeout=args.timeout) as client:
        handler = {**HANDLERS, **(handlers or {})}[args.command]
        return handler(client, args)


def follow(args: argparse.Namespace, *, write: Callable[[str], None]) -> None:
    if args.interval < 0.2:
        raise UsageError("--interval must be at least 0.2 seconds")
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    labels = _pairs(args.label, "--label") or None
    since = _when(args.since, "--since")
    with AlertClient(args.url, args.api_key, timeout=args.timeout) as client:
        following.follow(client, args, labels=labels, since=since, write=write)


def send(client: AlertClient, args: argparse.Namespace) -> str:
    sent = client.send_alert(
        alert_type=args.alert_type,
        severity=args.severity,
        message=args.message,
        source=args.source,
        labels=_pairs(args.label, "--label"),
        details=_pairs(args.detail, "--detail", json_values=True),
        channels=args.channel,
        dedup_key=args.dedup_key,
    )
    return emit(args, sent, _alert_text(sent, ("outcome", sent.outcome), ("notified", sent.notified)))


def send_batch(client: AlertClient, args: argparse.Namespace) -> str:
    alerts = _batch(sys.stdin.read() if args.file == "-" else _read(args.file))
    sent = client.submit_many(alerts)
    rows = [(s.outcome, s.id, s.severity, s.alert_type, s.source, s.occurrences, s.notified) for s in sent]
    text = (
        table(("outcome", "id", "severity", "type", "source", "seen", "notified"), rows)
        if sent
        else "no alerts"
    )
    return emit(args, [s.model_dump(mode="json") for s in sent], text)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _batch(text: str) -> list[dict[str, Any]]:
    """A JSON array of alerts, or one JSON object per line."""
    try:
        if text.lstrip().startswith("["):
            alerts = json.loads(text)
        else:
            alerts = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise UsageError(f"the batch is not JSON: {exc}") from exc
    if not all(isinstance(alert, dict) for alert in alerts):
        raise UsageError("the batch must hold JSON objects, one per alert")
    return list(alerts)


def list_alerts(client: AlertClient, args: argparse.Namespace) -> str:
    page = client.list_alerts(
        status=args.status,
        severity=args.severity,
        alert_type=args.alert_type,
        source=args.source,
        since=_when(args.since, "--since"),
        until=_when(args.until, "--until"),
        labels=_pairs(args.label, "--label") or None,
        text=args.search,
        team=args.team,
        limit=args.limit,
        cursor=args.cursor,
    )
    rows = [
        (
            a.id,
            a.status,
            a.severity,
            a.alert_type,
            a.source,
            a.escalation_level,
            a.occurrences,
            a.last_seen_at,
            a.message,
        )
        for a in page.items
    ]
    text = table(("id", "status", "severity", "type", "source", "lvl", "seen", "last seen", "message"), rows)
    if not page.items:
        text = "no alerts"
    if page.next_cursor:
        text += f"\nmore: --cursor {page.next_cursor}"
    return emit(args, page, text)


def show(client: AlertClient, args: argparse.Namespace) -> str:
    alert = client.get_alert(args.alert_id)
    history = table(
        ("at", "event", "by", "from", "to", "note"),
        [(e.at, e.kind, e.actor, e.from_status, e.to_status, e.note) for e in alert.history],
    )
    sent = table(
        ("created", "channel", "reason", "level", "status", "attempts", "error"),
        [
            (n.created_at, n.channel, n.reason, n.level, n.status, n.attempts, n.last_error)
            for n in alert.notifications
        ],
    )
    return emit(args, alert, f"{_alert_text(alert)}\n\nHistory\n{history}\n\nNotifications\n{sent}")


def ack(client: AlertClient, args: argparse.Namespace) -> str:
    alert = client.acknowledge(args.alert_id, by=args.by, note=args.note)
    return emit(args, alert, _alert_text(alert))


def resolve(client: AlertClient, args: argparse.Namespace) -> str:
    alert = client.resolve_alert(args.alert_id, resolved_by=args.by, notes=args.notes)
    return emit(args, alert, _alert_text(alert))


def stats(client: AlertClient, args: argparse.Namespace) -> str:
    figures = client.get_statistics(since=_when(args.since, "--since"), until=_when(args.until, "--until"))
    data = figures.as_dict()
    return emit(args, data, table(("figure", "value"), flatten(data)))


def keygen(args: argparse.Namespace) -> str:
    key, digest = ops.generate_key()
    scopes = args.scope or ["alerts:write"]
    data = {"key": key, "hash": digest, "name": args.name, "scopes": scopes}
    toml_scopes = ", ".join(f'"{s}"' for s in scopes)
    text = (
        f"key:  {key}\nhash: {digest}\n\n"
        "Give the key to the client (ALERTS_API_KEY); it is not stored anywhere.\n"
        "Configure the hash in alerts.toml:\n\n"
        f'[[api_keys]]\nname = "{args.name}"\nhash = "{digest}"\nscopes = [{toml_scopes}]'
    )
    return emit(args, data, text)


def move(client: AlertClient, args: argparse.Namespace) -> str:
    alert = client.change_status(args.alert_id, args.status, by=args.by, note=args.note)
    return emit(args, alert, _alert_text(alert))


def channels(client: AlertClient, args: argparse.Namespace) -> str:
    found = client.list_channels()
    headers: tuple[str, ...] = ("name", "type", "sent", "failed", "pending", "silenced", "success", "mean ms")
    rows: list[tuple[Any, ...]] = [
        (
            c.name,
            f"{c.type} ({c.mode})" if c.mode else c.type,
            c.sent,
            c.failed,
            c.pending,
            c.silenced,
            _rate(c.success_rate),
            _ms(c.mean_latency_ms),
        )
        for c in found
    ]
    # Flood control's figures only when some channel has one, so the usual
    # table stays narrow: the limit, the notifications folded into digests
    # (those of the last hour in brackets) and a provider's pause (UTC).
    if any(c.max_per_minute or c.folded or c.paused_until for c in found):
        headers += ("max/min", "folded (1h)", "paused until")
        rows = [
            (
                *row,
                c.max_per_minute,
                f"{c.folded} ({c.folded_last_hour})" if c.folded else None,
                c.paused_until,
            )
            for row, c in zip(rows, found, strict=True)
        ]
    return emit(args, [c.model_dump(mode="json") for c in found], table(headers, rows))


def silence(client: AlertClient, args: argparse.Namespace) -> str:
    matchers = [
        {"name": name, "value": value, "is_regex": False}
        for name, value in _pairs(args.match, "--match").items()
    ] + [
        {"name": name, "value": value, "is_regex": True}
        for name, value in _pairs(args.match_regex, "--match-regex").items()
    ]
    if not matchers:
        raise UsageError("give at least one --match or --match-regex")
    made = client.create_silence(matchers=matchers, duration_minutes=args.minutes, comment=args.comment)
    return emit(args, made, _silence_rows([made]))


def list_silences(client: AlertClient, args: argparse.Namespace) -> str:
    found = client.list_silences(state=args.state)
    text = _silence_rows(found) if found else "no silences"
    return emit(args, [s.model_dump(mode="json") for s in found], text)


def expire(client: AlertClient, args: argparse.Namespace) -> str:
    ended = client.expire_silence(args.silence_id)
    return emit(args, ended, _silence_rows([ended]))


def heartbeat(client: AlertClient, args: argparse.Namespace) -> str:
    beat = client.heartbeat(
        args.name,
        timeout_seconds=args.timeout_seconds,
        severity=args.severity,
        labels=_pairs(args.label, "--label") or None,
        message=args.message,
    )
    return emit(args, beat, _heartbeat_rows([beat]))


def list_heartbeats(client: AlertClient, args: argparse.Namespace) -> str:
    found = client.list_heartbeats(state=args.state, team=args.team)
    text = _heartbeat_rows(found) if found else "no heartbeats"
    return emit(args, [h.model_dump(mode="json") for h in found], text)


def oncall(client: AlertClient, args: argparse.Namespace) -> str:
    action = ONCALL_ACTIONS.get(args.schedule)
    if action is not None:
        if args.at is not None:
            raise UsageError(f"--at is for who is on call, not for {args.schedule}")
        return action(client, args)
    if args.file is not None or args.dry_run:
        raise UsageError("FILE and --dry-run are for `alerts oncall import`")
    at = _when(args.at, "--at")
    found = client.list_schedules(team=args.team)
    if args.schedule is not None:
        found = [s for s in found if s.name == args.schedule]
        if not found:
            raise UsageError(f"no schedule named {args.schedule!r}")
    answers = [client.oncall(s.id, at=at) for s in found]
    rows = [
        (a.schedule, a.team, a.user.name if a.user else "nobody", (a.user.full_name or "") if a.user else "")
        for a in answers
    ]
    text = table(("schedule", "team", "on call", "full name"), rows) if rows else "no schedules"
    return emit(args, [a.model_dump(mode="json") for a in answers], text)


def export_oncall(client: AlertClient, args: argparse.Namespace) -> str:
    if args.file is not None or args.dry_run:
        raise UsageError("`alerts oncall export` prints the document: redirect it to a file")
    # The document ends with a newline, and print() adds one.
    return client.export_oncall(team=args.team).removesuffix("\n")


def import_oncall(client: AlertClient, args: argparse.Namespace) -> str:
    if args.file is None:
        raise UsageError("`alerts oncall import` needs FILE, the TOML document (- for stdin)")
    if args.team is not None:
        raise UsageError("the document names its team: `alerts oncall import` takes no --team")
    document = sys.stdin.read() if args.file == "-" else _read(args.file)
    done = client.import_oncall(document, dry_run=args.dry_run)
    kinds = {
        "users": done.users,
        "schedules": done.schedules,
        "escalation_policies": done.escalation_policies,
        "routes": done.routes,
    }
    rows = [
        (kind, change, ", ".join(names))
        for kind, changes in kinds.items()
        for change, names in changes.model_dump().items()
        if names
    ]
    rows += [("overrides", change, count) for change, count in done.overrides.model_dump().items() if count]
    verb = "would change" if done.dry_run else "changed"
    text = (
        f"team {done.team}: {verb}\n{table(('kind', 'change', 'names'), rows)}"
        if done.changed
        else f"team {done.team}: nothing to change"
    )
    return emit(args, done, text)


ONCALL_ACTIONS: dict[str | None, Callable[[AlertClient, argparse.Namespace], str]] = {
    "export": export_oncall,
    "import": import_oncall,
}


def _heartbeat_rows(found: list[Any]) -> str:
    rows = [
        (h.name, h.team, h.state, h.last_beat_at, h.due_at, h.timeout_seconds, h.severity, h.alert_id)
        for h in found
    ]
    return table(("name", "team", "state", "last beat", "due", "timeout s", "severity", "alert"), rows)


def _silence_rows(found: list[Any]) -> str:
    rows = [
        (
            s.id,
            s.state,
            " ".join(f"{m.name}{'=~' if m.is_regex else '='}{m.value}" for m in s.matchers),
            s.starts_at,
            s.ends_at,
            s.created_by,
            s.comment,
        )
        for s in found
    ]
    return table(("id", "state", "matchers", "starts", "ends", "by", "comment"), rows)


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


HANDLERS = {
    "send": send,
    "send-batch": send_batch,
    "list": list_alerts,
    "show": show,
    "ack": ack,
    "resolve": resolve,
    "move": move,
    "channels": channels,
    "silence": silence,
    "silences": list_silences,
    "expire": expire,
    "heartbeat": heartbeat,
    "heartbeats": list_heartbeats,
    "oncall": oncall,
    "stats": stats,
}
