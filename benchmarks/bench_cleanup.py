"""TestDataManager.cleanup() of 10,000 tracked rows vs one DELETE per row, same server, same run.

Three tables linked by foreign keys (parents <- children <- grandchildren),
1,000 + 3,000 + 6,000 rows inserted by one bulk INSERT ... SELECT per table
(not timed) and tracked with ``track_row(table, pk)`` (not timed). The foreign-key
columns are indexed, as they should be: without the index every deleted parent
costs PostgreSQL a scan of its child table, and both ways become server-bound.
Timed:

(a) ``TestDataManager(engine).cleanup()`` (batched DELETE ... WHERE id IN (...), children first);
(b) one ``DELETE ... WHERE id = :id`` per row, grandchildren first, in one transaction.

Prints the medians, rows per second, and the ratio.
"""

from __future__ import annotations

import time

from _common import parse_args, ratio, summarize
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, delete, func, select, text
from sqlalchemy.engine import Engine

from harness import TestDataManager
from harness.data import schema
from harness.registry import registry

metadata = MetaData()
parents = Table("parents", metadata, Column("id", Integer, primary_key=True))
children = Table(
    "children",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_id", ForeignKey("parents.id"), index=True),
)
grandchildren = Table(
    "grandchildren",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("child_id", ForeignKey("children.id"), index=True),
)
ROWS = {parents: 1000, children: 3000, grandchildren: 6000}  # 10,000 in all; ids 1..n in each table
DELETE_ORDER = (grandchildren, children, parents)


def insert_rows(engine: Engine) -> None:
    """Bulk insert: each child points at parent ``id % parents + 1``."""
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO parents (id) SELECT g FROM generate_series(1, 1000) g"))
        connection.execute(
            text("INSERT INTO children (id, parent_id) SELECT g, g % 1000 + 1 FROM generate_series(1, 3000) g")
        )
        connection.execute(
            text("INSERT INTO grandchildren (id, child_id) SELECT g, g % 3000 + 1 FROM generate_series(1, 6000) g")
        )


def remaining(engine: Engine) -> int:
    with engine.connect() as connection:
        return sum(connection.execute(select(func.count()).select_from(table)).scalar_one() for table in ROWS)


def time_manager_cleanup(engine: Engine) -> float:
    insert_rows(engine)
    data = TestDataManager(engine)
    for table, count in ROWS.items():
        for pk in range(1, count + 1):
            data.track_row(table, pk)
    started = time.perf_counter()
    deleted = data.cleanup()
    elapsed = time.perf_counter() - started
    if deleted != sum(ROWS.values()) or remaining(engine):
        raise SystemExit(f"TestDataManager.cleanup() deleted {deleted} rows; {remaining(engine)} are left")
    return elapsed


def time_delete_per_row(engine: Engine) -> float:
    insert_rows(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        for table in DELETE_ORDER:
            for pk in range(1, ROWS[table] + 1):
                connection.execute(delete(table).where(table.c.id == pk))
    elapsed = time.perf_counter() - started
    if remaining(engine):
        raise SystemExit(f"per-row DELETE left {remaining(engine)} rows")
    return elapsed


def main() -> None:
    arguments = parse_args(__doc__)
    repetitions = 3 if arguments.quick else 5
    total = sum(ROWS.values())
    print(f"Cleanup of {total:,} tracked rows over 3 FK-linked tables, {repetitions} repetitions each")
    endpoint = registry.acquire("postgres")
    try:
        engine = schema.shared_database(endpoint, metadata=metadata).engine
        manager, per_row = [], []
        for _ in range(repetitions):  # alternate, so both see the same server state
            manager.append(time_manager_cleanup(engine))
            per_row.append(time_delete_per_row(engine))
        fast = summarize("(a) TestDataManager.cleanup()", manager)
        slow = summarize("(b) one DELETE per row", per_row)
        print(f"  (a) {total / fast:,.0f} rows/s   (b) {total / slow:,.0f} rows/s")
        ratio("DELETE per row", slow, "TestDataManager.cleanup()", fast)
    finally:
        schema.drop_shared_databases()
        registry.shutdown()


if __name__ == "__main__":
    main()
