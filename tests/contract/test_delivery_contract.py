"""One contract for every store's delivery writes: claim, sent, failed,
lost leases, on the ORM store (SQLite, PostgreSQL) and the one-statement
store (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.db.store import ClaimedRow, Failed, Quotas, Released, Sent
from app.models import ChannelMessage, ChannelState, OutboxRow
from tests.contract.stores import KINDS, WEBHOOK, Driver, driver


def claimed(d: Driver, rows: list[ClaimedRow]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            d.name(row.alert_id) if row.alert_id else None,
            row.channel,
            row.reason,
            row.level,
            row.attempts,
            row.lease_until,
            None
            if row.alert is None
            else (row.alert["severity"], row.alert["occurrences"], row.alert["channels"]),
        )
        for row in rows
    )


async def scenario(d: Driver) -> list[Any]:
    await d.submit(channels=["console", "hooks"])
    await d.at(1).submit(alert_type="cpu_high", severity="critical")
    first = await d.store.claim(now=d.now, limit=2, lease_seconds=30)
    second = await d.store.claim(now=d.now, limit=10, lease_seconds=30)
    assert (len(first), len(second)) == (2, 1)  # each row claimed once
    assert await d.store.claim(now=d.now, limit=10, lease_seconds=30) == []
    rows = {(d.name(r.alert_id) if r.alert_id else "", r.channel): r for r in [*first, *second]}
    d.at(2)
    retry_at = d.now + timedelta(seconds=5)
    statuses = await d.store.record(
        sent=[Sent(rows[("alert-1", "console")], 12.5), Sent(rows[("alert-2", "console")], 7.0)],
        failed=[Failed(rows[("alert-1", "hooks")], "pending", retry_at, "503 from receiver", 30.0)],
        now=d.now,
    )
    named = sorted(
        (d.name(r.alert_id) if r.alert_id else None, r.channel, s) for r, s in _with(rows, statuses)
    )
    assert named == [
        ("alert-1", "console", "sent"),
        ("alert-1", "hooks", "pending"),
        ("alert-2", "console", "sent"),
    ]
    # Not due before its retry time, then claimed again with its attempt counted.
    assert await d.store.claim(now=d.now, limit=10, lease_seconds=30) == []
    d.at(3)
    again = await d.store.claim(now=d.now, limit=10, lease_seconds=1)
    assert [(r.channel, r.attempts) for r in again] == [("hooks", 2)]
    # The lease runs out: another worker claims the row, the first one's result is refused.
    d.at(4)
    taken_over = await d.store.claim(now=d.now, limit=10, lease_seconds=30)
    lost = await d.store.record(sent=[Sent(again[0], 1.0)], failed=[], now=d.now)
    assert lost == {again[0].id: None}
    given_up = await d.store.record(
        sent=[], failed=[Failed(taken_over[0], "failed", d.now, "410 gone", 3.0)], now=d.now
    )
    assert given_up == {taken_over[0].id: "failed"}
    snapshot = await d.snapshot()
    sent_counts = [(a["name"], a["notifications_sent"]) for a in snapshot["alerts"]]
    assert sent_counts == [("alert-1", 1), ("alert-2", 1)]
    return [claimed(d, first + second), claimed(d, again), claimed(d, taken_over), named, sent_counts]


def _with(
    rows: dict[Any, ClaimedRow], statuses: dict[Any, str | None]
) -> list[tuple[ClaimedRow, str | None]]:
    return [(row, statuses[row.id]) for row in rows.values()]


async def test_every_store_delivers_alike(postgresql_url: str, sqlite_url: str) -> None:
    urls = {"sqlite": sqlite_url, "postgresql": postgresql_url}
    records = {}
    for kind in KINDS:
        async with driver(kind, urls[kind[1]], channels={"hooks": WEBHOOK}) as d:
            answers = await scenario(d)
            snapshot = await d.snapshot()
        outbox = [row[:5] for row in snapshot["outbox"]]
        records[kind] = (answers, outbox)
    reference = records[KINDS[0]]
    for kind, record in records.items():
        assert record == reference, f"{kind} differs from {KINDS[0]}"


SLACK_APP = {
    "type": "slack",
    "bot_token": "xoxb-1-2-abc",
    "channel": "#alerts",
    "api_url": "http://127.0.0.1:9",
}
MESSAGE = {"channel": "C0ALERTS01", "ts": "1767600000.000100"}


async def in_order_scenario(d: Driver) -> list[Any]:
    """A channel claimed in order: an alert's later notice waits for the
    earlier one, then finds the reference that one kept."""
    in_order = ("chat",)
    alert = await d.submit(channels=["chat", "hooks"])
    await d.at(1).move(alert["alert"], "acknowledged")  # queues `acknowledged` for chat only
    first = await d.store.claim(now=d.now, limit=10, lease_seconds=30, in_order=in_order)
    assert sorted((r.channel, r.reason, r.reference) for r in first) == [
        ("chat", "new", None),
        ("hooks", "new", None),
    ]
    # The acknowledgement waits while the new notice is being sent, under
    # flood control too (its claims take the general path)...
    assert await d.store.claim(now=d.now, limit=10, lease_seconds=30, in_order=in_order) == []
    start = d.now.replace(second=0, microsecond=0)
    quotas = Quotas(per_window={"chat": 5}, window_start=start, window_end=start + timedelta(minutes=1))
    assert await d.store.claim(now=d.now, limit=10, lease_seconds=30, quotas=quotas, in_order=in_order) == []
    by_channel = {r.channel: r for r in first}
    d.at(2)
    statuses = await d.store.record(
        sent=[Sent(by_channel["chat"], 5.0, MESSAGE), Sent(by_channel["hooks"], 4.0)],
        failed=[],
        now=d.now,
    )
    assert set(statuses.values()) == {"sent"}
    # ...and goes once it is sent, with the reference it kept.
    [ack] = await d.store.claim(now=d.now, limit=10, lease_seconds=30, quotas=quotas, in_order=in_order)
    assert (ack.channel, ack.reason, ack.reference) == ("chat", "acknowledged", MESSAGE)
    # A newer reference replaces it; a lost lease keeps nothing.
    d.at(3)
    newer = {"channel": "C0ALERTS01", "ts": "1767600000.000200"}
    await d.store.record(sent=[Sent(ack, 6.0, newer)], failed=[], now=d.now)
    await d.move(alert["alert"], "resolved")
    [resolved] = [
        r
        for r in await d.store.claim(now=d.now, limit=10, lease_seconds=1, in_order=in_order)
        if r.channel == "chat"
    ]
    assert resolved.reference == newer
    d.at(4)
    retaken = [
        r
        for r in await d.store.claim(now=d.now, limit=10, lease_seconds=30, in_order=in_order)
        if r.channel == "chat"
    ]
    lost = await d.store.record(
        sent=[Sent(resolved, 1.0, {"channel": "C0", "ts": "lost"})], failed=[], now=d.now
    )
    assert lost == {resolved.id: None}
    assert [r.reference for r in retaken] == [newer]
    async with d.sessionmaker() as session:
        kept = list(await session.execute(select(ChannelMessage.channel, ChannelMessage.reference)))
    assert [tuple(row) for row in kept] == [("chat", newer)]
    return [claimed(d, first), claimed(d, [ack]), [r.reference for r in retaken]]


async def test_every_store_claims_in_order_and_keeps_references(postgresql_url: str, sqlite_url: str) -> None:
    urls = {"sqlite": sqlite_url, "postgresql": postgresql_url}
    records = {}
    for kind in KINDS:
        async with driver(kind, urls[kind[1]], channels={"hooks": WEBHOOK, "chat": SLACK_APP}) as d:
            answers = await in_order_scenario(d)
            snapshot = await d.snapshot()
        records[kind] = (answers, [row[:5] for row in snapshot["outbox"]])
    reference = records[KINDS[0]]
    for kind, record in records.items():
        assert record == reference, f"{kind} differs from {KINDS[0]}"


async def flood_scenario(d: Driver) -> list[Any]:
    """Flood control and pauses: the share, the fold into one digest, the
    digest's claim with its rows, a pause that holds the channel, a row
    handed back uncounted."""
    for i in range(5):
        await d.submit(channels=["hooks"], source=f"db-{i}", severity=["low", "critical"][i % 2])
    start = d.now.replace(second=0, microsecond=0)
    quotas = Quotas(per_window={"hooks": 2}, window_start=start, window_end=start + timedelta(minutes=1))
    first = await d.store.claim(now=d.now, limit=10, lease_seconds=30, quotas=quotas)
    assert sorted(r.channel for r in first) == ["hooks", "hooks"]
    again = await d.store.claim(now=d.now, limit=10, lease_seconds=30, quotas=quotas)
    assert again == []  # the folded rows are not due; the digest is not yet
    await d.store.record(sent=[Sent(r, 1.0) for r in first], failed=[], now=d.now)
    # The minute ends: the digest, with the three folded rows, by any store's claim.
    d.at(1)
    [digest] = await d.store.claim(now=d.now, limit=10, lease_seconds=30)
    assert digest.reason == "digest" and digest.alert is None
    folded = sorted((d.name(row.alert_id), row.reason) for row in digest.folded if row.alert_id)
    assert len(folded) == 3 and all(row.alert for row in digest.folded)
    # A rate limit on the digest pauses the channel for 30 s.
    pause_end = d.now + timedelta(seconds=30)
    await d.store.record(
        sent=[],
        failed=[Failed(digest, "pending", pause_end, "429", 1.0, pause_until=pause_end)],
        now=d.now,
    )
    await d.submit(channels=["hooks", "console"], source="late")
    during = await d.store.claim(now=d.now + timedelta(seconds=29), limit=10, lease_seconds=30)
    assert [r.channel for r in during] == ["console"]
    after = await d.store.claim(now=pause_end, limit=10, lease_seconds=30)
    assert sorted(r.reason for r in after) == ["digest", "new"]
    # A row handed back unattempted: pending again, its attempt uncounted.
    late = next(r for r in after if r.reason == "new")
    handed = await d.store.record(
        sent=[], failed=[], now=pause_end, released=[Released(late, pause_end + timedelta(seconds=5))]
    )
    assert handed == {late.id: "pending"}
    snapshot = await d.snapshot()
    return [folded, sorted(r[:5] for r in snapshot["outbox"])]


async def test_every_store_floods_alike(postgresql_url: str, sqlite_url: str) -> None:
    urls = {"sqlite": sqlite_url, "postgresql": postgresql_url}
    records = {}
    for kind in KINDS:
        async with driver(kind, urls[kind[1]], channels={"hooks": WEBHOOK}) as d:
            records[kind] = await flood_scenario(d)
            async with d.sessionmaker() as session:
                [state] = list(await session.scalars(select(ChannelState)))
                assert state.window_sent == 2 and state.paused_until is not None
                [late] = list(
                    await session.scalars(
                        select(OutboxRow).where(OutboxRow.channel == "hooks", OutboxRow.reason == "new",
                                                OutboxRow.status == "pending")
                    )
                )  # fmt: skip
                assert late.attempts == 0
    reference = records[KINDS[0]]
    for kind, record in records.items():
        assert record == reference, f"{kind} differs from {KINDS[0]}"
