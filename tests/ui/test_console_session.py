"""Signing in to the console, its cookie and its CSRF token, in process on
both databases (the browser tests show the same from outside)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.api.auth import hash_key
from tests.conftest import Service, ServiceFactory
from tests.helpers import alert_body

ADMIN = "session-admin-key-0123456789abcdefgh"
READER = "session-reader-key-0123456789abcdefg"
WRITER = "session-writer-key-0123456789abcdefg"
SECRET = "a-console-secret-of-the-tests-0123456789"


def keys(*names: str) -> list[dict[str, object]]:
    table = {"admin": (ADMIN, ["admin"]), "reader": (READER, ["read"]), "writer": (WRITER, ["alerts:write"])}
    return [{"name": n, "hash": hash_key(table[n][0]), "scopes": table[n][1]} for n in names]


@pytest.fixture
async def keyed(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory(api_keys=keys("admin", "reader", "writer"), console_secret=SECRET) as svc:
        yield svc


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def sign_in(svc: Service, key: str, next_page: str = "/ui/") -> httpx.Response:
    login = await svc.client.get("/ui/login")
    return await svc.client.post(
        "/ui/login", data={"csrf": csrf_of(login), "key": key, "next": next_page}, follow_redirects=False
    )


async def test_pages_need_a_session_and_send_to_the_login_page(keyed: Service) -> None:
    answer = await keyed.client.get("/ui/?severity=high", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2F%3Fseverity%3Dhigh"
    # A fragment htmx asked for is told where to go instead.
    fragment = await keyed.client.get("/ui/alerts/rows", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/ui/login")


async def test_signing_in_sets_a_strict_httponly_cookie(keyed: Service) -> None:
    answer = await sign_in(keyed, ADMIN, "/ui/stats")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/stats"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("alerts_console=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # http://, as the tests reach it
    assert ADMIN not in cookie  # the key itself never travels back
    page = await keyed.client.get("/ui/")
    assert page.status_code == 200 and 'data-testid="signed-in">admin' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


async def test_cookie_is_secure_behind_https(service_factory: ServiceFactory) -> None:
    async with service_factory(api_keys=keys("admin"), public_url="https://alerts.example.com") as svc:
        answer = await svc.client.get("/ui/login")
    assert "Secure" in answer.headers["set-cookie"]


async def test_a_wrong_key_is_refused_and_no_session_made(keyed: Service) -> None:
    answer = await sign_in(keyed, "not-a-key-at-all-0123456789")
    assert answer.status_code == 401 and "not one this service knows" in answer.text
    assert (await keyed.client.get("/ui/", follow_redirects=False)).status_code == 303


async def test_next_goes_nowhere_but_the_console(keyed: Service) -> None:
    for target in ("https://evil.example/", "//evil.example/ui/", "/alerts", "javascript:alert(1)"):
        answer = await sign_in(keyed, ADMIN, target)
        assert answer.headers["location"] == "/ui/", target


async def test_posts_without_the_session_token_are_refused(keyed: Service) -> None:
    created = await keyed.client.post("/alerts", json=alert_body(), headers={"X-API-Key": ADMIN})
    alert_id = created.json()["id"]
    await sign_in(keyed, ADMIN)
    page = await keyed.client.get(f"/ui/alerts/{alert_id}")
    token = csrf_of(page)
    for data in ({"status": "acknowledged"}, {"status": "acknowledged", "csrf": "forged-token"}):
        refused = await keyed.client.post(f"/ui/alerts/{alert_id}/move", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    stored = await keyed.client.get(f"/alerts/{alert_id}", headers={"X-API-Key": ADMIN})
    assert stored.json()["status"] == "open"
    moved = await keyed.client.post(
        f"/ui/alerts/{alert_id}/move", data={"status": "acknowledged", "csrf": token}, follow_redirects=False
    )
    assert moved.status_code == 303
    stored = await keyed.client.get(f"/alerts/{alert_id}", headers={"X-API-Key": ADMIN})
    assert stored.json()["status"] == "acknowledged" and stored.json()["acknowledged_by"] == "admin"


async def test_a_read_key_cannot_move_even_with_a_token(keyed: Service) -> None:
    created = await keyed.client.post("/alerts", json=alert_body(), headers={"X-API-Key": ADMIN})
    alert_id = created.json()["id"]
    await sign_in(keyed, READER)
    token = csrf_of(await keyed.client.get(f"/ui/alerts/{alert_id}"))
    refused = await keyed.client.post(
        f"/ui/alerts/{alert_id}/move", data={"status": "resolved", "csrf": token}
    )
    assert refused.status_code == 403 and "alerts:manage" in refused.text
    bulk = await keyed.client.post(
        "/ui/alerts/bulk", data={"status": "resolved", "ids": alert_id, "csrf": token}
    )
    assert bulk.status_code == 403


async def test_a_key_removed_from_the_configuration_ends_its_sessions(keyed: Service) -> None:
    await sign_in(keyed, READER)
    assert (await keyed.client.get("/ui/")).status_code == 200
    keyed.app.state.settings = keyed.settings.model_copy(update={"api_keys": keyed.settings.api_keys[:1]})
    assert (await keyed.client.get("/ui/", follow_redirects=False)).status_code == 303


async def test_an_old_session_has_expired(keyed: Service) -> None:
    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 13 * 3600  # console_session_hours is 12

    stale = URLSafeTimedSerializer(SECRET, salt="alerts-console-session", signer=SignedLongAgo)
    keyed.client.cookies.set("alerts_console", stale.dumps({"k": hash_key(ADMIN), "c": "t"}))
    assert (await keyed.client.get("/ui/", follow_redirects=False)).status_code == 303
    fresh = URLSafeTimedSerializer(SECRET, salt="alerts-console-session")
    keyed.client.cookies.set("alerts_console", fresh.dumps({"k": hash_key(ADMIN), "c": "t"}))
    assert (await keyed.client.get("/ui/", follow_redirects=False)).status_code == 200


async def test_open_mode_needs_no_sign_in_and_says_so(service: Service) -> None:
    created = await service.client.post("/alerts", json=alert_body(message="seen in open mode"))
    page = await service.client.get("/", follow_redirects=True)
    assert page.status_code == 200 and page.url.path == "/ui/"
    assert "open mode" in page.text and created.json()["id"] in page.text
    assert (await service.client.get("/ui/login", follow_redirects=False)).headers["location"] == "/ui/"


async def test_bad_filters_answer_a_page_naming_the_field(service: Service) -> None:
    for query, field in (("severity=urgent", "severity"), ("label=novalue", "label"), ("q=a%00b", "q")):
        page = await service.client.get(f"/ui/?{query}")
        assert page.status_code == 422, query
        assert f"(field: {field})" in page.text, page.text


async def test_the_signing_key_is_shared_through_the_database(service_factory: ServiceFactory) -> None:
    """Two processes without console_secret read one another's cookies."""
    async with service_factory(api_keys=keys("admin")) as first:
        await sign_in(first, ADMIN)
        cookie = first.client.cookies["alerts_console"]
    async with service_factory(api_keys=keys("admin")) as second:
        second.client.cookies.set("alerts_console", cookie)
        assert (await second.client.get("/ui/", follow_redirects=False)).status_code == 200


async def test_a_write_only_key_cannot_use_the_console(keyed: Service) -> None:
    answer = await sign_in(keyed, WRITER)
    assert answer.status_code == 403 and "needs one with" in answer.text
    # Nor with a session made for it some other way.
    fresh = URLSafeTimedSerializer(SECRET, salt="alerts-console-session")
    keyed.client.cookies.set("alerts_console", fresh.dumps({"k": hash_key(WRITER), "c": "t"}))
    page = await keyed.client.get("/ui/")
    assert page.status_code == 403 and "scope the console needs" in page.text


async def test_private_docs_are_read_through_a_console_session(service_factory: ServiceFactory) -> None:
    async with service_factory(api_keys=keys("admin", "writer"), public_docs=False) as svc:
        page = await svc.client.get("/docs", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/ui/login?next=/docs"
        assert (await svc.client.get("/openapi.json")).status_code == 401
        by_header = await svc.client.get("/openapi.json", headers={"X-API-Key": ADMIN})
        assert by_header.status_code == 200
        assert (await svc.client.get("/openapi.json", headers={"X-API-Key": WRITER})).status_code == 403

        signed_in = await sign_in(svc, ADMIN, "/docs")
        assert signed_in.headers["location"] == "/docs"
        assert (await svc.client.get("/docs")).status_code == 200
        assert (await svc.client.get("/redoc")).status_code == 200
        spec = await svc.client.get("/openapi.json")
        assert spec.status_code == 200 and "/alerts" in spec.json()["paths"]
