"""The store's quick column encoders write what SQLAlchemy's own would write, and
what they write reads back as the value given."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from emailsync.store.db import json_text
from emailsync.store.tables import UtcDateTime

_SQLITE = sqlite.dialect()
_ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_AWARE = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES
)


@settings(max_examples=2000, deadline=None)
@given(_AWARE)
def test_utc_datetimes_bind_as_sqlalchemys_datetime_text(value: datetime) -> None:
    quick = UtcDateTime().bind_processor(_SQLITE)
    assert quick is not None
    naive_utc = UtcDateTime().process_bind_param(value, _SQLITE)
    reference = sa.DateTime().dialect_impl(_SQLITE).bind_processor(_SQLITE)
    assert reference is not None
    assert quick(value) == reference(naive_utc)


def test_utc_datetimes_refuse_naive_values_and_pass_none() -> None:
    quick = UtcDateTime().bind_processor(_SQLITE)
    assert quick is not None
    assert quick(None) is None
    with pytest.raises(ValueError, match="naive"):
        quick(datetime(2026, 1, 1))


def test_a_utc_datetime_round_trips_through_sqlite() -> None:
    engine = sa.create_engine("sqlite://")
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UtcDateTime()))
    table.metadata.create_all(engine)
    value = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-7)))
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"at": value}])
        back = conn.execute(sa.select(table.c.at)).scalar_one()
    assert back == value and back.tzinfo == UTC


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),  # text includes lone surrogates
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=2000, deadline=None)
@given(_JSON)
def test_json_text_reads_back_as_json_dumps_would(value: object) -> None:
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_json_text_refuses_what_json_dumps_refuses() -> None:
    for value in (datetime.now(UTC), object(), {1, 2}):
        with pytest.raises(TypeError):
            json.dumps(value)
        with pytest.raises(TypeError):
            json_text(value)
