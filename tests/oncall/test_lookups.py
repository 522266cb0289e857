"""The look-ups that rules naming `schedule:<name>` and `user:<name>` resolve
through (services/oncall), on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.db.engine import create_engine, create_sessionmaker
from app.errors import NotFound
from app.oncall_schemas import LayerBody, OverrideCreate, ScheduleCreate, UserCreate
from app.services.oncall import schedules, users

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


async def test_a_schedule_name_leads_to_the_user_on_call_with_contacts(clean_database: str) -> None:
    engine = create_engine(clean_database, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            contact = {"type": "email", "address": "alice@example.com"}
            alice = await users.create(
                session, data=UserCreate.model_validate({"name": "alice", "contact_methods": [contact]}),
                team=None, home_team="payments", now=NOW,
            )  # fmt: skip
            bob = await users.create(
                session, data=UserCreate(name="bob"), team=None, home_team="payments", now=NOW
            )
            layer = LayerBody(
                participants=[alice.id], shift_unit="days", shift_length=1, handoff_time="09:00",
                start_date=date(2026, 1, 1),
            )  # fmt: skip
            made = await schedules.create(
                session, data=ScheduleCreate(name="primary", time_zone="Europe/Berlin", layers=[layer]),
                team=None, home_team="payments", now=NOW,
            )  # fmt: skip
            cover = OverrideCreate(
                user_id=bob.id, start=datetime(2026, 1, 6, tzinfo=UTC), end=datetime(2026, 1, 7, tzinfo=UTC)
            )
            await schedules.add_override(session, schedule_id=made.id, data=cover, team=None, by="t", now=NOW)

            found = await schedules.user_on_call(session, team="payments", schedule_name="primary", at=NOW)
            assert found is not None and found.name == "alice"
            assert found.contact_methods == [contact]
            covered = await schedules.user_on_call(
                session, team="payments", schedule_name="primary", at=datetime(2026, 1, 6, 12, tzinfo=UTC)
            )
            assert covered is not None and covered.name == "bob"
            early = await schedules.user_on_call(
                session, team="payments", schedule_name="primary", at=datetime(2025, 12, 31, tzinfo=UTC)
            )
            assert early is None
            with pytest.raises(NotFound):
                await schedules.user_on_call(session, team="search", schedule_name="primary", at=NOW)

            assert (await users.by_name(session, name="bob", team="payments")) is not None
            assert (await users.by_name(session, name="bob", team="search")) is None
            assert (await users.by_name(session, name="bob", team=None)) is not None
    finally:
        await engine.dispose()
