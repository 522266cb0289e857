"""Who is using the console: a signed session cookie, and its CSRF token.

A browser cannot send an API key header, so /ui/login takes the key once
and answers with a cookie that names the key by its configured hash (never
the key itself), signed with itsdangerous and dated, so it expires after
`console_session_hours`. Each request looks the hash up among the keys
configured now: a key removed from the configuration ends its sessions at
once, and its scopes and team are always the current ones.

Every visitor holds a session, signed in or not, and every session a random
CSRF token. Pages put it in their forms (`csrf`) and in a meta tag that the
console's script sends as `X-CSRF-Token`; every POST under /ui must carry
it. The cookie is HttpOnly and SameSite=Strict (Secure when the console is
reached over https), so another site can neither read the token nor make
the browser send the cookie with its forms.

In open mode (no key configured) nobody signs in: the caller is anonymous
with every scope, as on the API, and the pages say so.

The signing key is `console_secret`, or one the service makes once and keeps
in the database (db/secrets.py), so that every replica and every restart
reads the same cookies.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.api.auth import ANONYMOUS, SCOPES, Caller, Scope, admit, caller_of, find_key
from app.db.secrets import shared_secret
from app.errors import AppError, Forbidden
from app.settings import ALL_TEAMS, ApiKey, Settings

COOKIE = "alerts_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(AppError):
    """No session with a key: pages redirect to /ui/login, fragments answer 401."""

    status_code = 401
    code = "unauthorized"


@dataclass(frozen=True, slots=True)
class Session:
    key_hash: str | None  # None: not signed in
    csrf: str


class Sessions:
    """Issues and reads the session cookie with one signing key."""

    def __init__(self, secret: str, *, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="alerts-console-session")
        self.max_age_seconds = max_age_seconds

    def dump(self, session: Session) -> str:
        return self._serializer.dumps({"k": session.key_hash, "c": session.csrf})

    def load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age_seconds)
        except BadSignature:  # altered, made with another key, or expired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        key_hash = data.get("k")
        return Session(key_hash if isinstance(key_hash, str) else None, data["c"])


async def sessions(request: Request) -> Sessions:
    """The app's Sessions, made on first use (the key may live in the database)."""
    made: Sessions | None = getattr(request.app.state, "console_sessions", None)
    if made is None:
        settings: Settings = request.app.state.settings
        secret = (
            settings.console_secret.get_secret_value()
            if settings.console_secret
            else await shared_secret(request.app.state.sessionmaker, "console_session")
        )
        made = Sessions(secret, max_age_seconds=int(settings.console_session_hours * 3600))
        request.app.state.console_sessions = made
    return made


def new_session(key_hash: str | None = None) -> Session:
    return Session(key_hash, secrets.token_urlsafe(24))


async def current_session(request: Request) -> tuple[Session, bool]:
    """The request's session, and whether it is new (its cookie must be set)."""
    cached: Session | None = getattr(request.state, "console_session", None)
    if cached is not None:
        return cached, False
    found = (await sessions(request)).load(request.cookies.get(COOKIE))
    session, fresh = (found, False) if found is not None else (new_session(), True)
    request.state.console_session = session
    request.state.console_session_fresh = fresh
    return session, fresh


async def set_cookie(request: Request, response: Response, session: Session) -> None:
    made = await sessions(request)
    settings: Settings = request.app.state.settings
    response.set_cookie(
        COOKIE,
        made.dump(session),
        max_age=made.max_age_seconds,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or settings.public_url.startswith("https://"),
    )


def key_of(settings: Settings, key_hash: str | None) -> ApiKey | None:
    if key_hash is None:
        return None
    for key in settings.api_keys:
        if hmac.compare_digest(key.hash, key_hash):
            return key
    return None


async def console_caller(request: Request) -> Caller:
    """The caller behind the console's cookie, let in through the API's gate
    (rate limit, access line). SignInRequired when there is none."""
    settings: Settings = request.app.state.settings
    if not settings.api_keys:
        caller = Caller(ANONYMOUS, frozenset(SCOPES), ALL_TEAMS)
    else:
        session, _ = await current_session(request)
        key = key_of(settings, session.key_hash)
        if key is None:
            raise SignInRequired("sign in with an API key")
        caller = caller_of(key)
        if not caller.may("read"):  # as on the API: every page reads
            raise Forbidden(f"key {caller.name!r} lacks the 'read' scope the console needs", field="scope")
    admit(request, caller)
    return caller


def require(caller: Caller, scope: Scope) -> None:
    """Refuse an action the caller's key may not take (403), in the words of
    the API's gate. Reading needs no call: console_caller lets in only keys
    that may read."""
    if not caller.may(scope):
        raise Forbidden(f"key {caller.name!r} lacks the {scope!r} scope", field="scope")


def sign_in(settings: Settings, presented: str) -> ApiKey | None:
    """The configured key matching a presented one (constant time)."""
    return find_key(presented, settings.api_keys)


async def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a POST whose token (form field or header) is not the session's."""
    session, _ = await current_session(request)
    given = submitted or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page", field=CSRF_FIELD)
