"""Many rows in one driver call, for the sync's batch writes.

SQLAlchemy's executemany runs its per-row parameter machinery for every row (tens of
microseconds for a message row), which on an initial sync of 12,000 messages cost more
than SQLite's own work. `insert_many` compiles the INSERT once per column set, applies
the same bind processors SQLAlchemy would (so values are stored exactly as its own
inserts store them and read back the same) and hands all rows to the driver's
executemany, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa

Processor = Callable[[Any], Any] | None


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table`."""
    if not rows:
        return
    keys = tuple(rows[0])
    sql, order, processors = _prepared(table, keys, conn.dialect)
    plain = [k for k, p in zip(order, processors, strict=True) if p is None]
    if len(plain) == len(order):
        values: list[Any] = [tuple(r[k] for k in order) for r in rows]
    else:
        pairs = list(zip(order, processors, strict=True))
        values = [tuple(r[k] if p is None else p(r[k]) for k, p in pairs) for r in rows]
    if not conn.dialect.positional:
        values = [dict(zip(order, v, strict=True)) for v in values]
    conn.exec_driver_sql(sql, values)


@cache
def _prepared(
    table: sa.Table, keys: tuple[str, ...], dialect: sa.Dialect
) -> tuple[str, tuple[str, ...], tuple[Processor, ...]]:
    compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
    order = tuple(compiled.positiontup or keys) if dialect.positional else keys
    processors = tuple(table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in order)
    return compiled.string, order, processors
