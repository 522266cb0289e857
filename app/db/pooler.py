"""Connections that a transaction-mode pooler (PgBouncer) can share.

`database_pooler = "pgbouncer"`. In transaction mode PgBouncer lends a
server connection for one transaction (or one autocommitted statement) and
then gives it to whichever client asks next, so nothing may outlive a
transaction on a connection. What the service would otherwise keep there:

- Named prepared statements. asyncpg prepares each statement under a name
  and keeps it per connection; behind the pooler its next execution lands on
  a server that never saw the name ("does not exist"), or on one where
  another client's statement took it ("already exists"). With asyncpg's
  statement cache off every statement is the unnamed one, which asyncpg
  parses again in the same message sequence as its execution (it does not
  trust PgBouncer with the gap between describing and executing).
  SQLAlchemy's cache of prepared statements goes too, and its statements are
  unnamed as well. Unique names (uuid4, as SQLAlchemy's asyncpg notes
  suggest) would also work, but asyncpg closes a statement only when it
  prepares the next one, and that may happen on another server: each
  transaction's last statement would stay behind on the server that
  prepared it, until that connection closes.
  The cost: each execution is parsed and planned anew (a generic plan made
  once per connection is out of reach); bench/README.md measures it.
- Startup parameters. PgBouncer 1.18 refuses a client whose startup packet
  sets a parameter it does not track (it tracks application_name,
  client_encoding, DateStyle, TimeZone and standard_conforming_strings)
  unless `ignore_startup_parameters` lists it, and then drops it silently.
  So statement_timeout and plan_cache_mode are not sent. The client's own
  deadline (asyncpg's command_timeout) still cancels a statement that
  overruns, through PgBouncer, which forwards the cancel to the server
  running it; the server-side timeout is the database role's
  (docs/operations.md, "Behind PgBouncer").
- Session locks, LISTEN, SET, temporary tables: the request paths use none.
  The advisory locks the service takes are transaction-scoped
  (pg_advisory_xact_lock), the migration lock too (migrations/env.py).
"""

from __future__ import annotations

from typing import Any

NONE = "none"

# The startup parameters PgBouncer tracks per client and passes on; it
# refuses a connection that sets any other.
_PASSED_ON = frozenset(
    {"application_name", "client_encoding", "datestyle", "timezone", "standard_conforming_strings"}
)


def connect_options(
    pooler: str, *, command_timeout: float, server_settings: dict[str, str]
) -> dict[str, Any]:
    """Keyword arguments of asyncpg.connect / create_pool: without a pooler,
    as asked; behind one, no statement cache and only the startup
    parameters it passes on."""
    if pooler == NONE:
        return {"command_timeout": command_timeout, "server_settings": server_settings}
    return {
        "command_timeout": command_timeout,
        "statement_cache_size": 0,
        "server_settings": {k: v for k, v in server_settings.items() if k.lower() in _PASSED_ON},
    }


def dialect_options(pooler: str) -> dict[str, Any]:
    """The SQLAlchemy asyncpg dialect's own connect arguments: behind a
    pooler, no cache of prepared statements, each one unnamed."""
    if pooler == NONE:
        return {}
    return {"prepared_statement_cache_size": 0, "prepared_statement_name_func": _unnamed}


def _unnamed() -> str:
    return ""  # asyncpg: the empty name is the unnamed statement
