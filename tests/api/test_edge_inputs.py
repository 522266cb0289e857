"""Property test: inputs at the edges never make a 500, on either database.

Hypothesis generates what slipped through before: date-times at the
calendar's edges with any offset from -14:00 to +14:00, strings carrying a
NUL character (PostgreSQL stores no NUL in text), and cursors this service
never issued, well formed or not. They go to the handlers that take them:
the alert list and the statistics (query strings), silences (times, comment,
matchers), PagerDuty events (dedup_key) and submissions (every text field).
Every answer must be a 4xx or a success; a NUL is always refused.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Service
from tests.helpers import alert_body

OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
EDGES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T13:59:59+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T10:00:00-14:00",
]
# Text that can travel in a URL (no lone surrogates), NUL included.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
WITH_NUL = st.builds(lambda a, b: f"{a}\x00{b}", TEXT, TEXT)


def _aware(moment: datetime, zone: timezone) -> str:
    return moment.replace(tzinfo=zone).isoformat()


MOMENTS = st.one_of(
    st.sampled_from(EDGES),
    st.builds(
        _aware,
        st.one_of(
            st.datetimes(max_value=datetime(1, 1, 3)),
            st.datetimes(min_value=datetime(9999, 12, 29)),
            st.datetimes(),
        ),
        OFFSETS,
    ),
)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


CURSORS = st.one_of(
    st.builds(lambda at, alert_id: _cursor(f"{at}|{alert_id}"), MOMENTS, st.uuids().map(str)),
    st.builds(lambda at, junk: _cursor(f"{at}|{junk}"), MOMENTS, TEXT),
    st.builds(_cursor, TEXT),
    TEXT,
    WITH_NUL,
)

SETTINGS = settings(
    max_examples=40,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _no_500(response: Any) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.text)


@SETTINGS
@given(
    cursor=st.none() | CURSORS,
    since=st.none() | MOMENTS,
    until=st.none() | MOMENTS,
    label=st.none() | st.builds(lambda k, v: f"{k}={v}", TEXT, TEXT) | WITH_NUL,
)
async def test_listing_and_statistics(
    service: Service, cursor: str | None, since: str | None, until: str | None, label: str | None
) -> None:
    params = {
        name: value
        for name, value in {"cursor": cursor, "since": since, "until": until, "label": label}.items()
        if value is not None
    }
    listed = await service.client.get("/alerts", params=params)
    _no_500(listed)
    stats = await service.client.get(
        "/stats", params={k: v for k, v in params.items() if k in ("since", "until")}
    )
    _no_500(stats)
    if any("\x00" in value for value in params.values()):
        assert listed.status_code == 422, listed.text


# Exactly one of ends_at and duration_minutes, as a valid silence needs.
ENDS = st.one_of(
    MOMENTS.map(lambda moment: {"ends_at": moment}),
    st.floats(min_value=0.001, max_value=60 * 24 * 366).map(lambda minutes: {"duration_minutes": minutes}),
)


@SETTINGS
@given(
    starts_at=st.none() | MOMENTS,
    end=ENDS,
    comment=st.sampled_from(["window"]) | WITH_NUL,
    value=st.sampled_from(["db-1"]) | WITH_NUL,
)
async def test_silences(
    service: Service, starts_at: str | None, end: dict[str, Any], comment: str, value: str
) -> None:
    body: dict[str, Any] = {
        "matchers": [{"name": "source", "value": value}],
        "created_by": "ops",
        "comment": comment,
        **end,
    }
    if starts_at is not None:
        body["starts_at"] = starts_at
    response = await service.client.post("/silences", json=body)
    _no_500(response)
    if "\x00" in comment or "\x00" in value:
        assert response.status_code == 422, response.text
    if response.status_code == 201:
        _no_500(await service.client.get(f"/silences/{response.json()['id']}"))
        _no_500(await service.client.get("/alerts"))  # the silence is matched against the alerts


@SETTINGS
@given(
    action=st.sampled_from(["trigger", "acknowledge", "resolve"]),
    dedup_key=TEXT | WITH_NUL,
    summary=st.sampled_from(["disk full"]) | WITH_NUL,
)
async def test_pagerduty_events(service: Service, action: str, dedup_key: str, summary: str) -> None:
    event: dict[str, Any] = {"routing_key": "any", "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        event["payload"] = {"summary": summary, "source": "db-1", "severity": "error"}
    response = await service.client.post("/integrations/pagerduty/v2/enqueue", json=event)
    _no_500(response)
    if "\x00" in dedup_key:
        assert response.status_code == 400, response.text


FIELDS = ["alert_type", "message", "source", "dedup_key", "label_key", "label_value", "channel", "details"]


@SETTINGS
@given(field=st.sampled_from(FIELDS), text=WITH_NUL)
async def test_submissions_refuse_nul_in_every_field(service: Service, field: str, text: str) -> None:
    overrides: dict[str, Any] = {
        "label_key": {"labels": {text: "v"}},
        "label_value": {"labels": {"k": text}},
        "channel": {"channels": [text]},
        "details": {"details": {"note": text}},
    }.get(field, {field: text})
    response = await service.client.post("/alerts", json=alert_body(**overrides))
    assert response.status_code == 422, response.text
