"""`alerts`: the command line, built on app.client.

    alerts send -t disk_full -s high -m "/var is 91% full" --label mount=/var
    alerts send-batch alerts.json
    alerts list --status open
    alerts follow --severity critical
    alerts ack <id> --note "looking"
    alerts resolve <id> --notes "rotated logs"
    alerts heartbeat nightly-backup --timeout-seconds 90000
    alerts oncall --at 2026-03-28T12:00:00+01:00
    alerts oncall export --team payments > payments.toml
    alerts oncall import payments.toml --dry-run
    alerts policies create payments-critical.toml
    alerts routes test --severity critical --label env=prod
    alerts stats --json

The service URL and API key come from ALERTS_URL and ALERTS_API_KEY (or
--url and --api-key). Exit codes: 0 done, 1 the service refused or failed,
2 bad usage, 3 the service cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from app.cli import commands, ops, people, routing
from app.client import AlertServiceError, ConnectionFailed
from app.client.defaults import DEFAULT_URL, KEY_ENV, URL_ENV
from app.settings import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
SEVERITIES = ("info", "low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "in_progress", "resolved", "closed", "reopened")
SCOPES = ("alerts:write", "alerts:manage", "oncall:manage", "read", "admin")


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Given to the top parser and to every subcommand, so `alerts --json list`
    # and `alerts list --json` both work; SUPPRESS keeps a subcommand from
    # overwriting a value the top parser already took.
    default: Callable[[Any], Any] = (lambda _: argparse.SUPPRESS) if suppress else (lambda v: v)
    parser.add_argument(
        "--url", default=default(None), help=f"service URL (env {URL_ENV}, else {DEFAULT_URL})"
    )
    parser.add_argument("--api-key", default=default(None), help=f"API key (env {KEY_ENV})")
    parser.add_argument("--json", action="store_true", default=default(False), help="print JSON for scripts")
    parser.add_argument("--timeout", type=float, default=default(10.0), help="seconds per request (10)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alerts", description="Send, browse and handle alerts; run the alert service."
    )
    _common(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, parents=[common])

    send = command("send", "submit an alert")
    send.add_argument("-t", "--type", dest="alert_type", required=True, help="alert type, e.g. disk_full")
    send.add_argument("-s", "--severity", required=True, choices=SEVERITIES)
    send.add_argument("-m", "--message", required=True)
    send.add_argument("--source", help="where it comes from (default: this host's name)")
    send.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    send.add_argument(
        "--detail", action="append", default=[], metavar="KEY=VALUE", help="repeatable; JSON values"
    )
    send.add_argument(
        "--channel", action="append", metavar="NAME", help="repeatable; default channels if none"
    )
    send.add_argument("--dedup-key", help="replaces the computed fingerprint")

    batch = command("send-batch", "submit alerts as one batch: all or nothing, one result per alert")
    batch.add_argument(
        "file",
        metavar="FILE",
        help="a JSON array of alerts (POST /alerts fields), or one JSON object per line; - for stdin",
    )

    listing = command("list", "list alerts, newest first")
    listing.add_argument("--status", action="append", choices=STATUSES, help="repeatable")
    listing.add_argument("--severity", action="append", choices=SEVERITIES, help="repeatable")
    listing.add_argument("--type", dest="alert_type")
    listing.add_argument("--source")
    listing.add_argument("--since", help="ISO 8601, on first_seen_at")
    listing.add_argument("--until", help="ISO 8601, on first_seen_at")
    listing.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable, all must match"
    )
    listing.add_argument(
        "-q", "--search", metavar="TEXT", help="text in message, type or source, ignoring case"
    )
    listing.add_argument("--team", help="one team's alerts (keys of every team)")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", help="next_cursor of the previous page")

    following = command("follow", "print new alerts as they arrive, until interrupted")
    following.add_argument("--status", action="append", choices=STATUSES, help="repeatable")
    following.add_argument("--severity", action="append", choices=SEVERITIES, help="repeatable")
    following.add_argument("--type", dest="alert_type")
    following.add_argument("--source")
    following.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    following.add_argument("-q", "--search", metavar="TEXT", help="text in message, type or source")
    following.add_argument("--team", help="one team's alerts (keys of every team)")
    following.add_argument("--since", help="ISO 8601: also show alerts first seen since then")
    following.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    following.add_argument("--count", type=int, help="stop after this many alerts")

    show = command("show", "one alert with its history and notifications")
    show.add_argument("alert_id")

    ack = command("ack", "acknowledge an alert (stops escalation)")
    ack.add_argument("alert_id")
    ack.add_argument("--by", help="who (default: your user name)")
    ack.add_argument("--note")

    resolve = command("resolve", "resolve an alert")
    resolve.add_argument("alert_id")
    resolve.add_argument("--by", help="who (default: your user name)")
    resolve.add_argument("--notes")

    move = command("move", "any allowed status move: in_progress, closed, reopened, ...")
    move.add_argument("alert_id")
    move.add_argument("status", choices=STATUSES)
    move.add_argument("--by", help="who (default: your user name)")
    move.add_argument("--note")

    command("channels", "configured channels with their delivery figures")

    silence = command("silence", "hold the notifications of matching alerts for a while")
    silence.add_argument(
        "--match", action="append", default=[], metavar="NAME=VALUE",
        help="repeatable, all must match: alert_type, source, severity or labels.KEY",
    )  # fmt: skip
    silence.add_argument(
        "--match-regex", action="append", default=[], metavar="NAME=REGEX", help="repeatable; whole value"
    )
    silence.add_argument("--minutes", type=float, required=True, help="how long, from now")
    silence.add_argument("--comment", required=True, help="why (shown with the silence)")

    silences = command("silences", "list silences")
    silences.add_argument(
        "--state", action="append", choices=("pending", "active", "expired"), help="repeatable"
    )

    expire = command("expire", "end a silence now")
    expire.add_argument("silence_id")

    beat = command(
        "heartbeat", "beat: NAME is alive (for cron: `backup.sh && alerts heartbeat nightly-backup`)"
    )
    beat.add_argument("name", metavar="NAME", help="letters, digits and . _ - :")
    beat.add_argument(
        "--timeout-seconds", type=float, metavar="S",
        help="no beat for this long opens an alert (10 to 604800; 300 at first, then kept)",
    )  # fmt: skip
    beat.add_argument("--severity", choices=SEVERITIES, help="of the missed alert (high at first)")
    beat.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    beat.add_argument("--message", help="of the missed alert")

    beats = command("heartbeats", "list heartbeats")
    beats.add_argument("--state", action="append", choices=("up", "late"), help="repeatable")
    beats.add_argument("--team", help="one team's heartbeats (keys of every team)")

    oncall = sub.add_parser(
        "oncall",
        help="who is on call, per schedule: now, or at --at; export or import a team's configuration",
        description="alerts oncall [SCHEDULE] [--at T]: who is on call, per schedule. "
        "alerts oncall export [--team T] > FILE: the team's on-call configuration as TOML. "
        "alerts oncall import FILE [--dry-run]: replace the document's team's configuration with it.",
        parents=[common],
    )
    oncall.add_argument(
        "schedule", nargs="?", metavar="SCHEDULE | export | import",
        help="one schedule, by name (default: every one); or export, or import FILE",
    )  # fmt: skip
    oncall.add_argument("file", nargs="?", metavar="FILE", help="import: the TOML document; - for stdin")
    oncall.add_argument("--at", help="ISO 8601 (UTC without a zone); default: now")
    oncall.add_argument("--team", help="one team's schedules, or the team to export (keys of every team)")
    oncall.add_argument("--dry-run", action="store_true", help="import: only print what would change")

    routing.add_commands(command, common, SEVERITIES)
    people.add_commands(command, common)

    stats = command("stats", "statistics (GET /stats)")
    stats.add_argument("--since")
    stats.add_argument("--until")

    serve = command("serve", "run the service (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument(
        "--limit-concurrency", type=int, default=ops.DEFAULT_LIMIT_CONCURRENCY, metavar="N",
        help="connections or requests per worker past which requests get 503 "
        f"(default {ops.DEFAULT_LIMIT_CONCURRENCY}; 0: no limit)",
    )  # fmt: skip
    serve.add_argument(
        "--backlog", type=int, default=ops.DEFAULT_BACKLOG, metavar="N",
        help=f"connections queued by the kernel before they are accepted (default {ops.DEFAULT_BACKLOG})",
    )  # fmt: skip
    serve.add_argument(
        "--timeout-keep-alive", type=int, default=ops.DEFAULT_TIMEOUT_KEEP_ALIVE, metavar="SECONDS",
        help=f"close idle keep-alive connections after this (default {ops.DEFAULT_TIMEOUT_KEEP_ALIVE})",
    )  # fmt: skip
    serve.add_argument(
        "--forwarded-allow-ips", metavar="ADDRESSES",
        help="proxies trusted for X-Forwarded-For/-Proto, comma-separated "
        "(default: env FORWARDED_ALLOW_IPS, else 127.0.0.1)",
    )  # fmt: skip

    migrate = command("migrate", "apply the database migrations (alembic upgrade head)")
    migrate.add_argument("--database-url", help="default: the service's ALERTS_DATABASE_URL setting")

    keygen = command("keygen", "make a new API key and the hash to configure")
    keygen.add_argument("--name", default="client", help="the key's name in alerts.toml")
    keygen.add_argument("--scope", action="append", choices=SCOPES, help="repeatable (default alerts:write)")
    return parser


def _fail(args: argparse.Namespace, exc: AlertServiceError) -> int:
    if args.json:
        error = {"error": exc.code or type(exc).__name__, "status": exc.status_code, "message": exc.message}
        if exc.field:
            error["field"] = exc.field
        print(json.dumps(error), file=sys.stderr)
    else:
        print(f"alerts: error: {exc}", file=sys.stderr)
    return EXIT_UNREACHABLE if isinstance(exc, ConnectionFailed) else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            ops.serve(
                host=args.host,
                port=args.port,
                workers=args.workers,
                run_migrations=args.migrate,
                limit_concurrency=args.limit_concurrency or None,
                backlog=args.backlog,
                timeout_keep_alive=args.timeout_keep_alive,
                forwarded_allow_ips=args.forwarded_allow_ips,
            )
            return EXIT_OK
        if args.command == "migrate":
            url = ops.migrate(args.database_url)
            print(commands.emit(args, {"migrated": True, "database": commands.safe_url(url)}))
            return EXIT_OK
        if args.command == "keygen":
            print(commands.keygen(args))
            return EXIT_OK
        if args.command == "follow":
            commands.follow(args, write=lambda text: print(text, flush=True))
            return EXIT_OK
        print(commands.run(args, {**routing.HANDLERS, **people.HANDLERS}))
        return EXIT_OK
    except AlertServiceError as exc:
        return _fail(args, exc)
    except commands.UsageError as exc:
        print(f"alerts: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ConfigError, ValueError, FileNotFoundError) as exc:  # configuration errors name their key
        print(f"alerts: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # how `alerts follow` ends
        return EXIT_OK
    except BrokenPipeError:
        # `alerts list | head`: the reader left; that is not a failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
