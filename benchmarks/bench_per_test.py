"""Per-test cost (setup + call + teardown) of an isolated test, five ways, on one server in one run.

The test inserts a user and an order for it (users <- orders, a foreign key),
commits, and reads the order back joined to its user. Isolation by:

(a) DatabaseTestBase, isolation = "transaction", run as unittest runs it
    (setUpClass once, untimed; then each ``test(result)`` call timed whole);
(b) a hand-written SAVEPOINT fixture: connect, begin, Session(join_transaction_mode=
    "create_savepoint"), test, session.close(), rollback, close;
(c) TRUNCATE of both tables after each test;
(d) metadata.drop_all + create_all after each test;
(e) a ``CREATE DATABASE ... TEMPLATE`` clone per test, dropped after it
    (pytest-postgresql's way, with its DatabaseJanitor).

Variants run in alternating rounds so that a noisy neighbour hurts all alike,
after an untimed warm-up round.
Targets: (a) within 1.5x of (b); the teardown of (b) ~0.25 ms.
"""

from __future__ import annotations

import itertools
import time
import unittest
from urllib.parse import urlsplit

from _common import parse_args, ratio, summarize
from _models import Base, Order, User
from sqlalchemy import NullPool, create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from harness import DatabaseTestBase
from harness.data import schema
from harness.data.schema import TestDatabase
from harness.registry import registry


def insert_and_read(session: Session) -> None:
    """The test body shared by every variant."""
    session.add(Order(user=User(name="ada"), total=42))
    session.commit()
    order = session.scalars(select(Order).join(User).where(User.name == "ada")).one()
    if order.total != 42:
        raise AssertionError("the order read back is not the one inserted")


# -- (a) DatabaseTestBase --------------------------------------------------------------------


class BenchTransactionTest(DatabaseTestBase):
    metadata = Base.metadata
    isolation = "transaction"

    def test_insert_and_read(self) -> None:
        insert_and_read(self.session)


def time_database_test_base(count: int) -> list[float]:
    """Seconds per ``test(result)`` call, as unittest's suite makes it (class set up once, untimed).

    Not timed with a TestResult's startTest/stopTest: harness sets a test up before
    unittest calls startTest and tears it down after stopTest, so those miss its cost.
    """
    cls = BenchTransactionTest
    result = unittest.TestResult()
    cls.setUpClass()
    try:
        timings = []
        for _ in range(count):
            test = cls("test_insert_and_read")
            started = time.perf_counter()
            test(result)
            timings.append(time.perf_counter() - started)
    finally:
        cls.tearDownClass()
        cls.doClassCleanups()
    if not result.wasSuccessful():
        raise SystemExit(f"DatabaseTestBase test failed: {(result.errors + result.failures)[0][1]}")
    return timings


# -- (b)..(e): one test each, returning (total seconds, teardown seconds) ------------------------


def savepoint_fixture(engine: Engine) -> tuple[float, float]:
    started = time.perf_counter()
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    insert_and_read(session)
    teardown = time.perf_counter()
    session.close()
    transaction.rollback()
    connection.close()
    ended = time.perf_counter()
    return ended - started, ended - teardown


def truncate_after(engine: Engine) -> tuple[float, float]:
    started = time.perf_counter()
    with Session(engine) as session:
        insert_and_read(session)
    teardown = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE orders, users RESTART IDENTITY CASCADE"))
    ended = time.perf_counter()
    return ended - started, ended - teardown


def drop_create_after(engine: Engine) -> tuple[float, float]:
    started = time.perf_counter()
    with Session(engine) as session:
        insert_and_read(session)
    teardown = time.perf_counter()
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    ended = time.perf_counter()
    return ended - started, ended - teardown


_clone_numbers = itertools.count()


def template_clone(template: TestDatabase) -> tuple[float, float]:
    from pytest_postgresql.janitor import DatabaseJanitor

    assert template.endpoint is not None
    server = urlsplit(template.endpoint.url)
    name = f"{template.name}_clone{next(_clone_numbers)}"
    janitor = DatabaseJanitor(
        user=server.username or "postgres",
        password=server.password,  # the run's password: harness's servers take no login without it
        host=server.hostname or "127.0.0.1",
        port=server.port or 5432,
        dbname=name,
        template_dbname=template.name,
    )
    started = time.perf_counter()
    janitor.init()
    engine = create_engine(template.url.rsplit("/", 1)[0] + f"/{name}", poolclass=NullPool)
    with Session(engine) as session:
        insert_and_read(session)
    teardown = time.perf_counter()
    engine.dispose()
    janitor.drop()
    ended = time.perf_counter()
    return ended - started, ended - teardown


VARIANTS = (
    "(a) DatabaseTestBase (transaction)",
    "(b) hand-written SAVEPOINT fixture",
    "(c) TRUNCATE after each test",
    "(d) drop_all + create_all after each test",
    "(e) CREATE DATABASE ... TEMPLATE per test",
)


def one_round(database: TestDatabase, tests: int, clones: int) -> dict[str, list[tuple[float, float]]]:
    """``tests`` tests of each variant (``clones`` of the last); per test (total, teardown) seconds."""
    engine = database.engine
    a, b, c, d, e = VARIANTS
    timings = {a: [(total, float("nan")) for total in time_database_test_base(tests)]}
    timings[b] = [savepoint_fixture(engine) for _ in range(tests)]
    timings[c] = [truncate_after(engine) for _ in range(tests)]
    timings[d] = [drop_create_after(engine) for _ in range(tests)]
    engine.dispose()  # a template database must have no other sessions
    timings[e] = [template_clone(database) for _ in range(clones)]
    return timings


def main() -> None:
    arguments = parse_args(__doc__)
    tests, clones, rounds = (50, 4, 2) if arguments.quick else (200, 20, 4)
    print(f"Per-test cost, {tests} tests per variant ({clones} for the template clone), in {rounds} rounds")
    endpoint = registry.acquire("postgres")
    try:
        database = schema.shared_database(endpoint, metadata=Base.metadata)
        one_round(database, 3, 1)  # warm-up, untimed: lazy imports, statement caches, pools
        timings: dict[str, list[tuple[float, float]]] = {variant: [] for variant in VARIANTS}
        for _ in range(rounds):  # alternate the variants, so a noisy neighbour hurts all alike
            for variant, results in one_round(database, tests // rounds, clones // rounds).items():
                timings[variant] += results
        base, savepoint, *others = (summarize(variant, [t for t, _ in timings[variant]]) for variant in VARIANTS)
        summarize("(b) teardown only", [teardown for _, teardown in timings[VARIANTS[1]]])
        ratio("DatabaseTestBase", base, "SAVEPOINT fixture", savepoint)
        for label, median in zip(("TRUNCATE", "drop+create", "TEMPLATE clone"), others, strict=True):
            ratio(label, median, "DatabaseTestBase", base)
        verdict = "met" if base <= 1.5 * savepoint else "NOT met"
        print(f"  target: DatabaseTestBase within 1.5x of the SAVEPOINT fixture -> {verdict}")
    finally:
        schema.drop_shared_databases()
        registry.shutdown()


if __name__ == "__main__":
    main()
