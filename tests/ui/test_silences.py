"""The console's silences page, in process (app/ui/silences.py): the form
makes the silence the API would make, refusals come back beside the form,
the preview shows what the silence would hold, and a key's scopes decide
what it may do.

The browser's half is test_silences_page.py.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from app.api.auth import hash_key
from tests.conftest import Service
from tests.helpers import create_alert

READER_KEY = "silences-reader-key-0123456789"
MANAGER_KEY = "silences-manager-key-0123456789"
PAYMENTS_KEY = "silences-payments-key-0123456789"
KEYS = [
    {"name": "reader", "hash": hash_key(READER_KEY), "scopes": ["read"]},
    {"name": "oncall", "hash": hash_key(MANAGER_KEY), "scopes": ["read", "alerts:manage"]},
    {
        "name": "payments-oncall",
        "hash": hash_key(PAYMENTS_KEY),
        "scopes": ["read", "alerts:manage"],
        "team": "payments",
    },
]
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def csrf_of(client: httpx.AsyncClient, page: str = "/ui/silences") -> str:
    """The page's CSRF token (its session cookie stays with the client)."""
    answer = await client.get(page)
    assert answer.status_code == 200, answer.text
    found = _CSRF.search(answer.text)
    assert found, "no csrf-token meta tag"
    return found.group(1)


def form(csrf: str, *matchers: tuple[str, str, bool], **fields: str) -> dict[str, str]:
    data = {"csrf": csrf, "duration": "60", "comment": "db maintenance", **fields}
    for i, (name, value, is_regex) in enumerate(matchers):
        data[f"matchers.{i}.name"] = name
        data[f"matchers.{i}.value"] = value
        if is_regex:
            data[f"matchers.{i}.is_regex"] = "1"
    return data


async def sign_in(client: httpx.AsyncClient, key: str) -> None:
    csrf = await csrf_of(client, "/ui/login")
    answer = await client.post("/ui/login", data={"csrf": csrf, "key": key, "next": "/ui/silences"})
    assert answer.status_code == 303, answer.text


async def silences_over_api(client: httpx.AsyncClient, **headers: str) -> list[dict[str, Any]]:
    answer = await client.get("/silences", headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def test_the_page_renders_in_open_mode_with_the_form(service: Service) -> None:
    answer = await service.client.get("/ui/silences")
    assert answer.status_code == 200
    page = answer.text
    assert 'data-testid="silence-form"' in page and 'data-testid="silences-active"' in page
    assert 'name="csrf"' in page and 'hx-post="/ui/silences/preview"' in page
    assert "open mode" in page
    assert re.search(r'(src|href)="(https?:)?//', page) is None  # nothing from another host


async def test_a_silence_made_in_the_form_is_the_apis_and_holds_a_matching_alert(service: Service) -> None:
    client = service.client
    csrf = await csrf_of(client)
    answer = await client.post(
        "/ui/silences",
        data=form(csrf, ("alert_type", "disk_full", False), ("labels.env", "prod|staging", True)),
    )
    assert answer.status_code == 303, answer.text
    [silence] = await silences_over_api(client)
    assert answer.headers["location"] == f"/ui/silences?created={silence['id']}#{silence['id']}"
    assert silence["matchers"] == [
        {"name": "alert_type", "value": "disk_full", "is_regex": False},
        {"name": "labels.env", "value": "prod|staging", "is_regex": True},
    ]
    assert silence["team"] is None  # open mode: a caller of every team, as on the API
    assert silence["created_by"] == "anonymous" and silence["comment"] == "db maintenance"
    assert silence["state"] == "active"
    assert silence["starts_at"] == service.clock.now.isoformat().replace("+00:00", "Z")

    held = await create_alert(client, labels={"env": "staging"})
    assert held["silenced"] is True and held["silenced_by"] == [silence["id"]]
    assert held["notified"] is False
    loud = await create_alert(client, labels={"env": "dev"})
    assert loud["silenced"] is False

    page = (await client.get(answer.headers["location"])).text
    assert f'id="{silence["id"]}"' in page and "Silence created" in page
    assert 'labels.env =~ "prod|staging"' in page


async def test_duration_presets_custom_end_and_typed_name(service: Service) -> None:
    client = service.client
    csrf = await csrf_of(client)
    fields = {"duration": "custom", "ends_at": "2026-01-05T13:30", "created_by": "alice"}
    answer = await client.post("/ui/silences", data=form(csrf, ("source", "db-1", False), **fields))
    assert answer.status_code == 303, answer.text
    answer = await client.post(
        "/ui/silences",
        data=form(csrf, ("source", "db-2", False), duration="1440", starts_at="2026-01-06T09:00"),
    )
    assert answer.status_code == 303, answer.text
    made = {silence["created_by"]: silence for silence in await silences_over_api(client)}
    custom, later = made["alice"], made["anonymous"]
    assert custom["ends_at"] == "2026-01-05T13:30:00Z" and custom["created_by"] == "alice"
    assert later["starts_at"] == "2026-01-06T09:00:00Z" and later["ends_at"] == "2026-01-07T09:00:00Z"
    assert later["state"] == "pending"
    page = (await client.get("/ui/silences")).text
    pending = page.split('data-testid="silences-pending"')[1].split("</section>")[0]
    assert later["id"] in pending and custom["id"] not in pending


@pytest.mark.parametrize(
    ("matchers", "fields", "field", "words"),
    [
        ([("labels.env", "(a)\\1", True)], {}, "matchers.0.value", "RE2"),
        (
            [("alert_type", "x", False), ("hostname", "db-1", False)],
            {},
            "matchers.1.name",
            "severity or labels.",
        ),
        ([], {}, "matchers", "at least 1"),
        ([("source", "db-1", False)], {"comment": ""}, "comment", "at least 1 character"),
        ([("source", "db-1", False)], {"duration": "custom"}, "ends_at", "give the end"),
        ([("source", "db-1", False)], {"starts_at": "next tuesday"}, "starts_at", "not a date"),
        (
            [("source", "db-1", False)],
            {"starts_at": "2026-01-05T07:00", "duration": "custom", "ends_at": "2026-01-05T08:00+00:00"},
            "ends_at",
            "in the past",
        ),
    ],
)
async def test_a_refused_form_answers_the_page_with_the_field(
    service: Service, matchers: list[tuple[str, str, bool]], fields: dict[str, str], field: str, words: str
) -> None:
    client = service.client
    csrf = await csrf_of(client)
    answer = await client.post("/ui/silences", data=form(csrf, *matchers, **fields))
    assert answer.status_code == 422, answer.text
    errors = answer.text.split('data-testid="form-errors"')[1].split("</div>")[0]
    assert f'data-error-for="{field}"' in errors and words in errors
    assert 'data-testid="silence-form"' in answer.text  # the form again, as typed
    for name, _, _ in matchers:
        assert f'value="{name}"' in answer.text
    assert await silences_over_api(client) == []


async def test_the_service_limits_apply_to_the_form(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(silence_max_matchers=1, silence_max_pattern_length=5) as svc:
        csrf = await csrf_of(svc.client)
        too_many = form(csrf, ("source", "db-1", False), ("alert_type", "disk_full", False))
        answer = await svc.client.post("/ui/silences", data=too_many)
        assert answer.status_code == 422 and "silence_max_matchers" in answer.text
        too_long = form(csrf, ("source", "db-[0-9]+", True))
        answer = await svc.client.post("/ui/silences", data=too_long)
        assert answer.status_code == 422 and "silence_max_pattern_length" in answer.text
        assert 'data-error-for="matchers.0.value"' in answer.text
        assert await silences_over_api(svc.client) == []


async def test_the_preview_lists_the_active_alerts_the_matchers_match(service: Service) -> None:
    client = service.client
    db1 = await create_alert(client, source="db-1", labels={"env": "prod"})
    db2 = await create_alert(client, source="db-2", labels={"env": "prod"})
    other = await create_alert(client, alert_type="cpu_high", source="db-1")
    resolved = await create_alert(client, source="db-3")
    answer = await client.patch(f"/alerts/{resolved['id']}/resolve", json={"resolved_by": "bob"})
    assert answer.status_code == 200, answer.text
    csrf = await csrf_of(client)

    preview = await client.post(
        "/ui/silences/preview", data=form(csrf, ("alert_type", "disk_full", False), ("source", "db-.*", True))
    )
    assert preview.status_code == 200
    assert re.search(r'data-testid="preview-count">2<', preview.text)
    shown = set(re.findall(r'data-alert-id="([^"]+)"', preview.text))
    assert shown == {db1["id"], db2["id"]}  # not the other type, not the resolved one
    assert other["id"] not in preview.text

    # The CSRF token may come as the header console.js adds to htmx requests.
    fields = form("", ("source", "db-1", False))
    del fields["csrf"]
    preview = await client.post("/ui/silences/preview", data=fields, headers={"X-CSRF-Token": csrf})
    assert preview.status_code == 200
    assert set(re.findall(r'data-alert-id="([^"]+)"', preview.text)) == {db1["id"], other["id"]}

    preview = await client.post("/ui/silences/preview", data=form(csrf, ("source", "(?=db)", True)))
    assert preview.status_code == 200 and 'data-testid="preview-error"' in preview.text
    assert "matchers.0.value" in preview.text
    preview = await client.post("/ui/silences/preview", data=form(csrf))
    assert preview.status_code == 200 and "Fill in a matcher" in preview.text


async def test_the_form_is_prefilled_from_the_alert_page_link(service: Service) -> None:
    alert = await create_alert(service.client, alert_type="disk_full", source="db-1")
    page = (await service.client.get(f"/ui/alerts/{alert['id']}")).text
    [link] = re.findall(r'href="(/ui/silences\?[^"]+)" data-testid="silence-like"', page)
    answer = await service.client.get(link.replace("&amp;", "&"))
    assert answer.status_code == 200
    assert 'name="matchers.0.name" value="alert_type"' in answer.text
    assert 'name="matchers.0.value" value="disk_full"' in answer.text
    assert 'name="matchers.1.name" value="source"' in answer.text
    assert 'name="matchers.1.value" value="db-1"' in answer.text
    assert f'data-alert-id="{alert["id"]}"' in answer.text  # the preview, already


async def test_a_post_without_the_csrf_token_is_refused(service: Service) -> None:
    client = service.client
    await csrf_of(client)  # a session, but not its token
    fields = form("", ("source", "db-1", False))
    del fields["csrf"]
    answer = await client.post("/ui/silences", data=fields)
    assert answer.status_code == 403 and "CSRF" in answer.text
    answer = await client.post("/ui/silences", data=form("not-the-token", ("source", "db-1", False)))
    assert answer.status_code == 403
    assert await silences_over_api(client) == []


async def test_expire_ends_the_silence_and_releases_what_it_held(service: Service) -> None:
    client = service.client
    csrf = await csrf_of(client)
    answer = await client.post("/ui/silences", data=form(csrf, ("source", "db-1", False)))
    assert answer.status_code == 303
    [silence] = await silences_over_api(client)
    held = await create_alert(client, source="db-1")
    assert held["silenced"] is True

    page = (await client.get("/ui/silences")).text
    active = page.split('data-testid="silences-active"')[1].split("</section>")[0]
    assert f'action="/ui/silences/{silence["id"]}/expire"' in active

    answer = await client.post(f"/ui/silences/{silence['id']}/expire", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/silences?done=expired")
    [expired] = await silences_over_api(client)
    assert expired["state"] == "expired"
    detail = (await client.get(f"/alerts/{held['id']}")).json()
    assert detail["silenced"] is False
    assert any(event["kind"] == "unsilenced" for event in detail["history"])

    page = (await client.get("/ui/silences?done=expired")).text
    gone = page.split('data-testid="silences-expired"')[1].split("</section>")[0]
    assert silence["id"] in gone and 'data-testid="expire"' not in gone
    # Expiring it again is the API's 409, as a page.
    answer = await client.post(f"/ui/silences/{silence['id']}/expire", data={"csrf": csrf})
    assert answer.status_code == 409 and "already expired" in answer.text


async def test_a_read_only_key_sees_no_control_and_may_not_post(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(api_keys=KEYS) as svc:
        manager = {"Authorization": f"Bearer {MANAGER_KEY}"}
        made = await svc.client.post(
            "/silences",
            json={
                "matchers": [{"name": "source", "value": "db-1"}],
                "duration_minutes": 60,
                "created_by": "carol",
                "comment": "kernel upgrade on db-1",
            },
            headers=manager,
        )
        assert made.status_code == 201, made.text
        silence = made.json()

        reader = svc.client
        await sign_in(reader, READER_KEY)
        page = await reader.get("/ui/silences")
        assert page.status_code == 200
        assert 'data-testid="signed-in">reader' in page.text
        assert f'id="{silence["id"]}"' in page.text and "kernel upgrade on db-1" in page.text
        for control in ('data-testid="expire"', 'data-testid="silence-form"', 'data-testid="create"'):
            assert control not in page.text
        assert 'data-testid="read-only"' in page.text
        found = _CSRF.search(page.text)
        assert found
        csrf = found.group(1)

        answer = await reader.post("/ui/silences", data=form(csrf, ("source", "db-2", False)))
        assert answer.status_code == 403 and "alerts:manage" in answer.text
        answer = await reader.post(f"/ui/silences/{silence['id']}/expire", data={"csrf": csrf})
        assert answer.status_code == 403 and "alerts:manage" in answer.text
        [still] = await silences_over_api(reader, **manager)
        assert still["id"] == silence["id"] and still["state"] == "active"


async def test_a_team_keys_silence_holds_its_team_and_is_seen_by_its_team(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory(api_keys=KEYS) as svc:
        client = svc.client
        await sign_in(client, PAYMENTS_KEY)
        csrf = await csrf_of(client)
        answer = await client.post("/ui/silences", data=form(csrf, ("alert_type", "card_declines", False)))
        assert answer.status_code == 303, answer.text
        [silence] = await silences_over_api(client, Authorization=f"Bearer {PAYMENTS_KEY}")
        assert silence["team"] == "payments" and silence["created_by"] == "payments-oncall"
        page = (await client.get("/ui/silences")).text
        assert 'data-testid="expire"' in page

        await sign_in(client, MANAGER_KEY)  # team default: not its silence to see
        page = (await client.get("/ui/silences")).text
        assert 'data-testid="signed-in">oncall' in page and silence["id"] not in page
        assert await silences_over_api(client, Authorization=f"Bearer {MANAGER_KEY}") == []
