"""The SQLite statement writes and reads values as SQLAlchemy does (its
dialect's processors for the columns' types), so that rows written by the
statement and by the ORM are the same text, and answers the same values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from app.db import sqlite_ingest
from app.models import Alert

DIALECT = sqlite.dialect()
COLUMNS = Alert.__table__.c


def _bind(column: str) -> object:
    return COLUMNS[column].type._cached_bind_processor(DIALECT)


def _result(column: str) -> object:
    return COLUMNS[column].type._cached_result_processor(DIALECT, None)


MOMENTS = [
    datetime(2026, 1, 5, 9, 0, tzinfo=UTC),  # no microseconds: still written with them
    datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=2))),  # another offset: UTC text
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_times_are_written_and_read_as_sqlalchemy_does(moment: datetime) -> None:
    written = sqlite_ingest.encode_time(moment)
    assert written == _bind("last_seen_at")(moment)  # type: ignore[operator]
    read = sqlite_ingest.decode_time(written)
    assert read == _result("last_seen_at")(written)  # type: ignore[operator]
    assert read == moment and read.tzinfo == UTC  # type: ignore[union-attr]


def test_uuids_and_json_are_written_and_read_as_sqlalchemy_does() -> None:
    value = uuid.uuid4()
    assert sqlite_ingest.encode_uuid(value) == _bind("id")(value)  # type: ignore[operator]
    assert sqlite_ingest.decode_uuid(value.hex) == _result("id")(value.hex) == value  # type: ignore[operator]
    labels = {"env": "prod", "é": "ü", "quote": '"'}
    assert sqlite_ingest.encode_json(labels) == _bind("labels")(labels)  # type: ignore[operator]
    assert sqlite_ingest.encode_time(None) is None and sqlite_ingest.decode_time(None) is None
    assert sqlite_ingest.encode_uuid(None) is None and sqlite_ingest.decode_uuid(None) is None
