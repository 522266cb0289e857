"""GET /alerts: filters and keyset paging."""

from __future__ import annotations

from tests.conftest import Service
from tests.helpers import create_alert, move


async def test_keyset_paging_walks_every_alert_once_newest_first(service: Service) -> None:
    created = []
    for i in range(23):
        service.clock.advance(seconds=1 if i % 3 else 0)  # some share a timestamp: id breaks ties
        created.append((await create_alert(service.client, source=f"host-{i}"))["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = (await service.client.get("/alerts", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 23 and set(seen) == set(created)
    stamps = [
        a["first_seen_at"]
        for a in (await service.client.get("/alerts", params={"limit": 500})).json()["items"]
    ]
    assert stamps == sorted(stamps, reverse=True)


async def test_filters_combine(service: Service) -> None:
    a = await create_alert(service.client, source="web-1", severity="critical", alert_type="http_5xx")
    await create_alert(service.client, source="web-2", severity="low", alert_type="http_5xx")
    service.clock.advance(hours=1)
    c = await create_alert(service.client, source="db-1", severity="critical", alert_type="disk_full")
    await move(service.client, c["id"], "acknowledged")

    async def ids(**params: object) -> set[str]:
        response = await service.client.get("/alerts", params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await ids(severity="critical") == {a["id"], c["id"]}
    assert await ids(severity="critical", status="open") == {a["id"]}
    assert await ids(status=["open", "acknowledged"], alert_type="disk_full") == {c["id"]}
    assert await ids(source="web-1") == {a["id"]}
    assert await ids(since=service.clock.now.isoformat()) == {c["id"]}
    assert len(await ids(until=service.clock.now.isoformat())) == 2


async def test_bad_cursor_and_bad_filter_name_the_parameter(service: Service) -> None:
    response = await service.client.get("/alerts", params={"cursor": "garbage!"})
    assert response.status_code == 422 and response.json()["field"] == "cursor"
    response = await service.client.get("/alerts", params={"severity": "apocalyptic"})
    assert response.status_code == 422 and response.json()["field"].startswith("severity")
    response = await service.client.get("/alerts", params={"limit": 0})
    assert response.status_code == 422 and response.json()["field"] == "limit"
    response = await service.client.get("/alerts", params={"since": "2026-01-01T00:00:00"})
    assert response.status_code == 422 and response.json()["field"] == "since"


async def test_a_single_valued_parameter_given_twice_is_refused_a_list_one_is_not(service: Service) -> None:
    web = await create_alert(service.client, source="web-1", alert_type="http_5xx", severity="low")
    db = await create_alert(service.client, source="db-1", alert_type="disk_full", severity="critical")
    for path, name in [
        ("/alerts", "alert_type"),
        ("/alerts", "limit"),
        ("/stats", "source"),
        ("/silences", "limit"),
    ]:
        response = await service.client.get(path, params=[(name, "1"), (name, "2")])
        assert response.status_code == 422, (path, response.text)
        assert response.json()["field"] == name
    # list parameters still take several values, and one value of a scalar is fine
    response = await service.client.get("/alerts", params=[("severity", "critical"), ("severity", "high")])
    assert response.status_code == 200 and {a["id"] for a in response.json()["items"]} == {db["id"]}
    response = await service.client.get("/alerts", params={"alert_type": "http_5xx"})
    assert response.status_code == 200 and [a["id"] for a in response.json()["items"]] == [web["id"]]


async def test_an_unknown_query_parameter_is_a_422_naming_it(service: Service) -> None:
    await create_alert(service.client, labels={"env": "staging"})
    response = await service.client.get("/alerts", params={"labels.env": "prod", "status": "open"})
    assert response.status_code == 422  # not every alert, silently unfiltered
    body = response.json()
    assert body["field"] == "labels.env" and "unknown query parameter" in body["message"]
    assert "status" in body["message"]  # it says what the operation takes
    response = await service.client.get("/stats", params={"sinse": "2026-01-01T00:00:00Z"})
    assert response.status_code == 422 and response.json()["field"] == "sinse"


async def test_label_filters_all_must_match(service: Service) -> None:
    prod_a = await create_alert(service.client, source="a", labels={"env": "prod", "team": "a"})
    prod_b = await create_alert(service.client, source="b", labels={"env": "prod", "team": "b", "url": "x=y"})
    await create_alert(service.client, source="c", labels={"env": "staging", "team": "b"})

    async def ids(*labels: str) -> set[str]:
        response = await service.client.get("/alerts", params=[("label", value) for value in labels])
        assert response.status_code == 200, response.text
        return {alert["id"] for alert in response.json()["items"]}

    assert await ids("env=prod") == {prod_a["id"], prod_b["id"]}
    assert await ids("env=prod", "team=b") == {prod_b["id"]}
    assert await ids("url=x=y") == {prod_b["id"]}  # the first = splits key from value
    assert await ids("env=dev") == set()
    assert await ids("team=") == set()  # an empty value matches only an empty label
    response = await service.client.get("/alerts", params={"label": "envprod"})
    assert response.status_code == 422 and response.json()["field"] == "label.0"


async def test_text_search_finds_the_text_in_message_type_or_source_ignoring_case(service: Service) -> None:
    disk = await create_alert(
        service.client, source="db-1", alert_type="disk_full", message="/var is 91% full"
    )
    http = await create_alert(
        service.client, source="web-1", alert_type="http_5xx", message="Été: 502 from upstream"
    )
    other = await create_alert(
        service.client, source="db_2", alert_type="replication_lag", message="lag 30 s"
    )

    async def ids(q: str, **params: str) -> set[str]:
        response = await service.client.get("/alerts", params={"q": q, **params})
        assert response.status_code == 200, response.text
        return {alert["id"] for alert in response.json()["items"]}

    assert await ids("FULL") == {disk["id"]}  # message and type, either case
    assert await ids("WEB-") == {http["id"]}  # source
    assert await ids("été") == {http["id"]}  # letters beyond ASCII fold too, on both databases
    assert await ids("91%") == {disk["id"]}  # % is itself, not a wildcard
    assert await ids("9%") == set()
    assert await ids("db_") == {other["id"]}  # _ is itself: db-1 does not match
    assert await ids("_", status="open") == {disk["id"], http["id"], other["id"]}
    assert await ids("lag", source="db-1") == set()  # combined with the other filters
    response = await service.client.get("/alerts", params={"q": ""})
    assert response.status_code == 422 and response.json()["field"] == "q"


async def test_text_search_reads_a_trigram_index_on_postgresql(service: Service) -> None:
    if service.settings.database_url.startswith("sqlite"):
        return  # SQLite scans: there is no index to read
    from sqlalchemy import text

    from app.db.engine import create_engine

    engine = create_engine(service.settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET enable_seqscan = off"))
            plan = (
                await conn.execute(
                    text(
                        "EXPLAIN SELECT id FROM alerts WHERE message ILIKE '%upstream%'"
                        " OR alert_type ILIKE '%upstream%' OR source ILIKE '%upstream%'"
                    )
                )
            ).scalars()
            plan_text = "\n".join(plan)
    finally:
        await engine.dispose()
    for column in ("message", "alert_type", "source"):
        assert f"ix_alerts_{column}_trgm" in plan_text, plan_text
