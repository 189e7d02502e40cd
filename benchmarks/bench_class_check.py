"""The check, before and after each class, that a shared test database is back to its seeded state.

``harness.data.baseline.restore()`` checks every table in one query (a table built
empty: is there a row; one built with rows: count them). Timed, on one server in one run:

(a) the check on the 2-table schema of the other benchmarks, nothing changed;
(b) the same on a 20-table schema;
(c) the same on a table built with 10,000 rows (a migration's seed data);
(d) a leak found and removed (3 rows left in one table of (a): check, count, TRUNCATE, count again);
(e) a whole DatabaseTestBase class with one empty test (setUpClass, the test, tearDownClass), with
    the check, and (f) the same with the check switched off, for its share of a class's cost.
"""

from __future__ import annotations

import time
import unittest
from collections.abc import Callable

from _common import parse_args, ratio, summarize
from _models import Base
from sqlalchemy import Column, Integer, MetaData, Table, text
from sqlalchemy.engine import Engine

from harness import DatabaseTestBase
from harness.bases import database as database_base
from harness.data import baseline, schema
from harness.registry import registry

wide = MetaData()
for number in range(20):
    Table(f"wide_{number:02}", wide, Column("id", Integer, primary_key=True), Column("value", Integer))
seeded = MetaData()
lookup = Table("lookup", seeded, Column("id", Integer, primary_key=True), Column("label", Integer))


class BenchClass(DatabaseTestBase):
    metadata = Base.metadata

    def test_nothing(self) -> None:
        pass


def timed(action: Callable[[], object], count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return timings


def run_class() -> None:
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(BenchClass).run(result)
    BenchClass.tearDownClass()
    BenchClass.doClassCleanups()
    if not result.wasSuccessful():
        raise SystemExit(f"the benchmark class failed: {(result.errors + result.failures)[0][1]}")


def leak_and_restore(engine: Engine, state: baseline.Baseline) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (name) SELECT 'u' || n FROM generate_series(1, 3) n"))
    started = time.perf_counter()
    drift = baseline.restore(engine, state)
    elapsed = time.perf_counter() - started
    if drift is None or drift.changed != (("users", 3, 0),):
        raise SystemExit(f"the leak was not found as left: {drift}")
    leaks.append(elapsed)


leaks: list[float] = []


def main() -> None:
    arguments = parse_args(__doc__)
    checks, classes = (50, 10) if arguments.quick else (300, 40)
    print(f"Seeded-state check: {checks} checks per variant, {classes} classes with and without it")
    endpoint = registry.acquire("postgres")
    try:
        small = schema.shared_database(endpoint, metadata=Base.metadata)
        many = schema.shared_database(endpoint, metadata=wide)
        big = schema.shared_database(endpoint, metadata=seeded)
        with big.engine.begin() as connection:
            connection.execute(text("INSERT INTO lookup SELECT n, n FROM generate_series(1, 10000) n"))
        big_state = baseline.record(big.engine)
        for database, state in ((small, small.baseline), (many, many.baseline), (big, big_state)):
            assert state is not None and baseline.restore(database.engine, state) is None  # warm-up, untimed
        assert small.baseline is not None and many.baseline is not None
        two = summarize("(a) check, 2 tables", timed(lambda: baseline.restore(small.engine, small.baseline), checks))
        summarize("(b) check, 20 tables", timed(lambda: baseline.restore(many.engine, many.baseline), checks))
        seed_check = timed(lambda: baseline.restore(big.engine, big_state), checks)
        summarize("(c) check, a 10,000-row seeded table", seed_check)
        for _ in range(max(5, checks // 10)):
            leak_and_restore(small.engine, small.baseline)
        summarize("(d) a leak of 3 rows found and removed", leaks)
        run_class()  # warm-up
        with_check: list[float] = []
        without: list[float] = []
        checks_on = database_base.check_before_class, database_base.check_after_class
        try:
            for _ in range(classes):  # alternated, so that a noisy neighbour hurts both alike
                database_base.check_before_class, database_base.check_after_class = checks_on
                with_check += timed(run_class, 1)
                database_base.check_before_class = database_base.check_after_class = lambda *args, **kwargs: None
                without += timed(run_class, 1)
        finally:
            database_base.check_before_class, database_base.check_after_class = checks_on
        whole = summarize("(e) a class, one empty test, with the check", with_check)
        bare = summarize("(f) the same class without it", without)
        ratio("with the check", whole, "without", bare)
        print(f"  the check's share: {(whole - bare) * 1000:.2f} ms a class "
              f"(the check alone, (a): {two * 1000:.2f} ms)")
    finally:
        schema.drop_shared_databases()
        registry.shutdown()


if __name__ == "__main__":
    main()
