"""How a process learns that silences changed (services/silence_match.py):
one row's generation, moved by every transaction that changes silences, so
that a transaction reads the silences table only after a change."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event, select, text

from app.models import SilenceGeneration
from app.services.silences import release_ended
from tests.conftest import Service
from tests.helpers import create_alert
from tests.services.test_silences import create_silence

_READS_SILENCES = re.compile(r"\bsilences\b", re.IGNORECASE)


class Statements:
    """The SQL the app's engine runs, from the moment it is made."""

    def __init__(self, svc: Service) -> None:
        self.seen: list[str] = []
        event.listen(svc.app.state.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def reading_silences(self) -> list[str]:
        """Leaving out the release job's look for ended silences, which runs on its own clock."""
        return [s for s in self.seen if _READS_SILENCES.search(s) and "ends_at <=" not in s]

    def reading_the_generation(self) -> list[str]:
        return [s for s in self.seen if "silence_generation" in s]


async def generation(svc: Service) -> int:
    async with svc.app.state.sessionmaker() as session:
        value = await session.scalar(select(SilenceGeneration.generation).where(SilenceGeneration.id == 1))
    return int(value)


async def test_a_transaction_reads_the_silences_table_only_after_they_change(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as one, service_factory() as two:
        alert = await create_alert(one.client)
        first = await create_silence(one)
        assert (await one.client.get("/alerts")).json()["items"][0]["silenced_by"] == [first["id"]]

        statements = Statements(one)
        for _ in range(3):
            listed = (await one.client.get("/alerts")).json()["items"]
            assert listed[0]["silenced_by"] == [first["id"]]
            assert (await one.client.get(f"/alerts/{alert['id']}")).json()["silenced"] is True
        assert statements.reading_silences() == []
        assert len(statements.reading_the_generation()) == 6  # one look-up per transaction

        two.clock.advance(minutes=1)  # the second is the newer one
        second = await create_silence(two)  # another replica's change is seen at the next transaction
        listed = (await one.client.get("/alerts")).json()["items"]
        assert listed[0]["silenced_by"] == [first["id"], second["id"]]
        assert statements.reading_silences() != []


async def test_every_transaction_that_changes_silences_moves_the_generation_once(service: Service) -> None:
    before = await generation(service)
    silence = await create_silence(service, duration_minutes=10)
    assert await generation(service) == before + 1
    await create_alert(service.client)  # held by it: matching moves nothing
    await service.client.get("/alerts")
    assert await generation(service) == before + 1

    assert (await service.client.delete(f"/silences/{silence['id']}")).status_code == 200
    assert await generation(service) == before + 2

    await create_silence(service, duration_minutes=10)
    await create_silence(service, duration_minutes=10)
    assert await generation(service) == before + 4
    later = service.clock.advance(minutes=11)
    async with service.app.state.sessionmaker() as session, session.begin():
        released = await release_ended(session, settings=service.settings, now=later)
    assert released == []  # nothing was held: no notices
    assert await generation(service) == before + 5  # two released, one transaction


async def test_a_lost_generation_row_is_made_again(service_factory) -> None:  # type: ignore[no-untyped-def]
    async with service_factory() as one, service_factory() as two:
        await create_alert(one.client)
        assert (await one.client.get("/alerts")).json()["items"][0]["silenced"] is False
        read = await generation(one)
        async with one.app.state.sessionmaker() as session, session.begin():
            await session.execute(text("DELETE FROM silence_generation"))
        silence = await create_silence(two)
        assert await generation(one) not in (read, read + 1)  # not a count one may have read
        listed = (await one.client.get("/alerts")).json()["items"]
        assert listed[0]["silenced_by"] == [silence["id"]]
