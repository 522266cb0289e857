"""API keys and scopes: who may call what.

A caller presents a key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
Keys are configured only as SHA-256 hashes (`api_keys` in the settings), so a
leaked configuration does not leak a key. The presented key is hashed and
compared with every configured hash by hmac.compare_digest, without stopping
at the first match, so the time taken says nothing about which hashes exist.

Scopes: `alerts:write` (submit), `alerts:manage` (acknowledge, resolve,
status, escalation tick, channel test), `read` (lists, one alert, stats,
channels, policy, metrics) and `admin` (everything). A route declares the one
scope it needs:

    @router.get("/stats", dependencies=[ReadAccess])              # as a route option
    async def stats(caller: ReadCaller) -> ...                    # or as a parameter

With no key configured the service runs open (every caller is `anonymous`
with every scope) and says so in a warning at each start. A missing or
unknown key is 401, a key without the scope is 403, both in the one error
shape. Each accepted caller then passes the per-key rate limit, when one is
set. Keys themselves are never logged; refusals are, with the key's name when
it is known and the client's address; each authorized request is one
`app.access` line with the key's name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.api.errors import ERROR_RESPONSES
from app.api.ratelimit import RateLimiter
from app.errors import AppError, Forbidden
from app.settings import ALL_TEAMS, DEFAULT_TEAM, ApiKey, Settings

log = logging.getLogger(__name__)
# One line per authorized request, with the key's name: what shows whether an
# old key is still in use during a rotation. Silenced by log_level=warning.
access_log = logging.getLogger("app.access")

Scope = Literal["alerts:write", "alerts:manage", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("alerts:write", "alerts:manage", "read", "admin")
ANONYMOUS = "anonymous"

# auto_error=False: a missing credential is our 401 in our error shape, not
# FastAPI's 403. Declaring both schemes documents them in the OpenAPI spec
# (and gives Swagger UI its Authorize button); either one is enough.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`")


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the key's name, what it may do, and on whose alerts."""

    name: str
    scopes: frozenset[str]
    team: str = DEFAULT_TEAM  # or ALL_TEAMS

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def confined_to(self) -> str | None:
        """The one team whose alerts the caller may see and act on; None
        for every team (an all-teams key, or the admin scope)."""
        return None if self.team == ALL_TEAMS or "admin" in self.scopes else self.team

    @property
    def home_team(self) -> str:
        """The team of the alerts the caller creates."""
        return DEFAULT_TEAM if self.team == ALL_TEAMS else self.team

    @property
    def silence_team(self) -> str | None:
        """The team whose alerts the caller's silences hold; None (every
        team's) for a key of every team."""
        return None if self.team == ALL_TEAMS else self.team


def hash_key(key: str) -> str:
    """The form a key is configured in: `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def find_key(presented: str, keys: list[ApiKey]) -> ApiKey | None:
    """The configured key whose hash matches, compared in constant time."""
    digest = hash_key(presented)
    found = None
    for key in keys:
        # No early exit: every configured hash is compared on every call.
        if hmac.compare_digest(key.hash, digest):
            found = key
    return found


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def presented_key(authorization: str | None, api_key: str | None) -> str | None:
    """The key in raw header values, read as the two security schemes read it."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return api_key or None


def caller_for(settings: Settings, presented: str | None) -> Caller | None:
    """The caller a presented key makes: anonymous with every scope when no
    key is configured; None for a missing or unknown key."""
    if not settings.api_keys:
        return Caller(ANONYMOUS, frozenset(SCOPES), ALL_TEAMS)
    key = None if presented is None else find_key(presented, settings.api_keys)
    return None if key is None else caller_of(key)


def team_to_read(caller: Caller, asked: str | None) -> str | None:
    """The team a listing is confined to: the one asked for (None: every
    team), within what the caller may see."""
    confined = caller.confined_to
    if confined is None or asked in (None, confined):
        return asked or confined
    raise Forbidden(f"key {caller.name!r} reads team {confined!r} only", field="team")


def caller_of(key: ApiKey) -> Caller:
    return Caller(key.name, frozenset(key.scopes), key.team)


def authenticate(request: Request, presented: str | None) -> Caller:
    caller = caller_for(request.app.state.settings, presented)
    if caller is not None:
        return caller
    if presented is None:
        _refuse(request, "no key")
        raise Unauthorized("an API key is required: `Authorization: Bearer <key>` or `X-API-Key`")
    _refuse(request, "unknown key")
    raise Unauthorized("unknown API key")


def admit(request: Request, caller: Caller, *, logged_path: str | None = None) -> None:
    """Let an authorized caller in: charge its rate limit (RateLimited when
    it is spent), remember it on the request, write the access line
    (`logged_path` instead of the path when the path holds a credential)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        limiter.check(caller.name if caller.name != ANONYMOUS else f"{ANONYMOUS}@{_client(request)}")
    request.state.caller = caller
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": logged_path or request.url.path,
                "client": _client(request),
                "key_name": caller.name,
            },
        )


def gate(request: Request, presented: str | None, scope: Scope) -> Caller:
    """The one gate of every guarded route: the key, the scope, the rate
    limit and the access line. Routes declare it as a dependency
    (require_scope); a route whose key travels in the body (PagerDuty's
    routing_key) calls it with that key."""
    caller = authenticate(request, presented)
    if not caller.may(scope):
        _refuse(request, "missing scope", key=caller.name, scope=scope)
        raise Forbidden(f"key {caller.name!r} lacks the {scope!r} scope", field="scope")
    admit(request, caller)
    return caller


def _refuse(request: Request, reason: str, *, key: str | None = None, scope: str | None = None) -> None:
    log.warning(
        "request refused: %s",
        reason,
        extra={
            "method": request.method,
            "path": request.url.path,
            "client": _client(request),
            "key_name": key,
            "scope": scope,
        },
    )


def require_scope(
    scope: Scope, *, open_when: Callable[[Settings], bool] | None = None
) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets in only callers holding `scope` (or admin).

    `open_when(settings)` true lets every caller in, as for /metrics and
    /docs when their `public_*` setting says so.
    """

    async def dependency(
        request: Request,
        # Declared for the OpenAPI spec (and Swagger UI's Authorize button);
        # the key itself is read by presented_key, as api/fast_submit.py reads it.
        _bearer_scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        _header_scheme: Annotated[str | None, Depends(_header)],
    ) -> Caller:
        admitted: Caller | None = getattr(request.state, "caller", None)
        if admitted is not None and admitted.may(scope):
            return admitted  # let in once already (api/fast_submit.py): charged and logged then
        settings: Settings = request.app.state.settings
        if open_when is not None and open_when(settings):
            return Caller(ANONYMOUS, frozenset({scope}))
        presented = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        return gate(request, presented, scope)

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def _public_metrics(settings: Settings) -> bool:
    return settings.public_metrics


# Annotated aliases, for a route that wants to know who called.
WriteCaller = Annotated[Caller, Depends(require_scope("alerts:write"))]
ManageCaller = Annotated[Caller, Depends(require_scope("alerts:manage"))]
ReadCaller = Annotated[Caller, Depends(require_scope("read"))]
AdminCaller = Annotated[Caller, Depends(require_scope("admin"))]

# The same, as route or router options: `dependencies=[ReadAccess]`.
WriteAccess = Depends(require_scope("alerts:write"))
ManageAccess = Depends(require_scope("alerts:manage"))
ReadAccess = Depends(require_scope("read"))
AdminAccess = Depends(require_scope("admin"))
# GET /metrics: `read`, or anyone when `public_metrics` is true.
MetricsAccess = Depends(require_scope("read", open_when=_public_metrics))

# The answers any guarded route may give, for its `responses=`.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {code: ERROR_RESPONSES[code] for code in (401, 403, 429)}
