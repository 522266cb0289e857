"""The alembic migrations and the ORM models describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from app.db.engine import create_engine
from app.models import Base


async def test_models_and_migrations_agree(database_url: str) -> None:
    def diff(connection: Connection) -> list[Any]:
        def exists_here(obj: Any, _name: Any, type_: str, reflected: bool, _to: Any) -> bool:
            # An index the models create on one database only (`ddl_if`).
            only = getattr(obj, "_ddl_if", None) if type_ == "index" and not reflected else None
            return only is None or only.dialect in (None, connection.dialect.name)

        opts = {"compare_type": True, "include_object": exists_here}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_migrations_go_down_and_up_again(tmp_path: Any) -> None:
    import asyncio

    from alembic import command

    from tests.conftest import alembic_config

    cfg = alembic_config(f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}")

    def roundtrip() -> None:
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "base")
        command.upgrade(cfg, "head")

    # alembic's env runs its own event loop: keep it off the test's loop.
    await asyncio.to_thread(roundtrip)
