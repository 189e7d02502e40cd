"""The database classes share: what a guide-style class commits stays in its transaction, and leaks are named."""

import re

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from harness import DatabaseTestBase, HarnessWarning
from harness.data import schema
from harness.registry import registry
from tests.bases.conftest import problems, run_case
from tests.helpers import assert_nothing_left, run_pytest, run_python, write, write_migrations
from tests.models import Base, User


def shared_users():
    """Rows in the users table of the database every class using tests.models shares, seen from outside."""
    database = schema.shared_database(registry.acquire("postgres"), metadata=Base.metadata)
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM users")).scalar_one()


def next_class():
    """A class using the same schema after another, recording how many users it finds."""
    seen = []

    class TestNextClass(DatabaseTestBase):
        metadata = Base.metadata

        def test_count(self):
            seen.append(self.session.scalar(select(func.count()).select_from(User)))

    TestNextClass.__qualname__ = "TestNextClass"
    return TestNextClass, seen


GUIDE_MODULE = '''
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from harness import DatabaseTestBase
from models import Base, User


class TestRegistration(DatabaseTestBase):
    metadata = Base.metadata
    database = "{database}"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.SessionLocal = sessionmaker(bind=cls.engine)

    def test_1_register(self):
        session = self.SessionLocal()
        session.add(User(name="ada"))
        session.commit()
        assert session.query(User).count() == 1
        session.close()

    def test_2_register_again(self):  # a UniqueViolation, were test_1's commit real
        with self.SessionLocal() as session:
            session.add(User(name="ada"))
            session.commit()
        with self.engine.begin() as connection:  # a repository's way
            connection.execute(User.__table__.insert().values(name="bob"))
        assert self.session.scalar(select(func.count()).select_from(User)) == 2


class TestNextClass(DatabaseTestBase):
    metadata = Base.metadata
    database = "{database}"

    def test_same_names(self):  # a UniqueViolation, were the first class's commits real
        assert self.session.scalar(select(func.count()).select_from(User)) == 0
        with sessionmaker(bind=self.engine)() as session:
            session.add_all([User(name="ada"), User(name="bob")])
            session.commit()
'''


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_guide_style_class_commits_inside_its_class_transaction_under_both_runners(models_module, database):
    write(models_module, "test_guide.py", GUIDE_MODULE.replace("{database}", database))
    result = run_pytest(models_module, "-p", "no:randomly", "test_guide.py")
    assert "3 passed" in result.stdout and "error" not in result.stdout, result.stdout + result.stderr
    assert_nothing_left(result)
    result = run_python(["-m", "unittest", "test_guide"], models_module)
    assert "Ran 3 tests" in result.stderr and result.stderr.rstrip().endswith("OK"), result.stderr
    assert_nothing_left(result)


def leaky_class():
    class TestLeaky(DatabaseTestBase):
        metadata = Base.metadata

        def test_commits_through_an_engine_of_its_own(self):
            engine = create_engine(self.database_url)
            with engine.begin() as connection:
                connection.execute(insert(User), [{"name": f"leaked {n}"} for n in range(3)])
            engine.dispose()

    TestLeaky.__qualname__ = "TestLeaky"
    return TestLeaky


def test_a_class_that_leaves_rows_is_named_and_the_rows_are_removed():
    result = run_case(leaky_class())
    assert not result.failures and len(result.errors) == 1, problems(result)
    test, trace = result.errors[0]
    assert "tearDownClass" in str(test)
    message = trace.rstrip().splitlines()[-1]
    assert re.fullmatch(
        r"harness\.errors\.IsolationError: TestLeaky left 3 rows in table users \(expected 0 after the class\) of "
        r"the shared test database 'harness_\w+': they were committed outside harness's transaction, and would have "
        r"met the next class using this schema\. harness emptied users, so the next class starts clean\. Write "
        r"through cls\.engine, self\.session or self\.get_session\(\): in isolation = 'transaction' their commits "
        r"only release savepoints of the class's transaction, and are undone\. Code that must commit through "
        r"connections of its own needs isolation = 'truncate'\.", message), message
    assert shared_users() == 0
    after, seen = next_class()
    assert problems(run_case(after)) == [] and seen == [0]


def test_rows_left_by_code_outside_the_classes_are_not_blamed_on_the_next_class():
    database = schema.shared_database(registry.acquire("postgres"), metadata=Base.metadata)
    with database.engine.begin() as connection:  # e.g. a plain test writing through the database's engine
        connection.execute(insert(User).values(name="stray"))
    after, seen = next_class()
    with pytest.warns(HarnessWarning) as warned:
        result = run_case(after)
    assert problems(result) == [] and seen == [0]
    assert str(warned[0].message).startswith(
        f"Before TestNextClass started, the shared test database {database.name!r} had 1 row in table users "
        "(expected 0): rows committed by code outside harness's test classes"
    )
    assert str(warned[0].message).endswith("harness emptied users, so the next class starts clean.")
    assert shared_users() == 0


def test_a_tracked_class_is_checked_too():
    case = leaky_class()
    case.isolation = "tracked"
    result = run_case(case)
    assert len(result.errors) == 1, problems(result)
    assert result.errors[0][1].rstrip().endswith(
        "In isolation = 'tracked' only the rows inserted through self.session, self.get_session() and self.data "
        "are deleted after each test; for code that commits through connections of its own, use isolation = "
        "'truncate'."
    )
    assert shared_users() == 0


LEAKY_MODULE = '''
from sqlalchemy import create_engine, func, select, text
from harness import DatabaseTestBase
from models import Base, User


class TestLeaky(DatabaseTestBase):
    metadata = Base.metadata

    def test_commits_elsewhere(self):
        engine = create_engine(self.database_url)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO users (name) VALUES ('leaked')"))
        engine.dispose()


class TestAfterIt(DatabaseTestBase):
    metadata = Base.metadata

    def test_starts_clean(self):
        assert self.session.scalar(select(func.count()).select_from(User)) == 0
'''


def test_a_leak_is_reported_under_both_runners(models_module):
    write(models_module, "test_leak.py", LEAKY_MODULE)
    result = run_pytest(models_module, "-p", "no:randomly", "test_leak.py")
    assert "2 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "ERROR at teardown of TestLeaky.test_commits_elsewhere" in result.stdout
    assert "IsolationError: TestLeaky left 1 row in table users (expected 0 after the class)" in result.stdout
    assert_nothing_left(result)
    result = run_python(["-m", "unittest", "test_leak"], models_module)
    assert "ERROR: tearDownClass (test_leak.TestLeaky)" in result.stderr, result.stderr
    assert "IsolationError: TestLeaky left 1 row in table users (expected 0 after the class)" in result.stderr
    assert "Ran 2 tests" in result.stderr and "FAILED (errors=1)" in result.stderr
    assert_nothing_left(result)


def commit_widgets(url, count):
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO widgets (label) SELECT 'w' FROM generate_series(1, :n)"), {"n": count})
    engine.dispose()


def migrated_class(base, tmp_path, **attributes):
    """A class on a schema built by migrations alone (no metadata), whose test commits through its own engine."""

    def test_commits(self):
        commit_widgets(self.database_url, 2)

    return type("TestWidgets", (base,), {"migrations": write_migrations(tmp_path), "test_commits": test_commits,
                                         **attributes})


def test_classes_are_checked_in_the_tables_their_metadata_does_not_name(tmp_path):
    from harness import ServiceIntegrationTest

    truncating = migrated_class(DatabaseTestBase, tmp_path / "truncate", isolation="truncate")
    service = migrated_class(ServiceIntegrationTest, tmp_path / "service", services=("postgres",))
    for case, advice in ((truncating, "In isolation = 'truncate' only the tables of the class's metadata are "
                                      "emptied after each test: give metadata (with migrations too) so that every "
                                      "table the tests write to is among them."),
                         (service, "give metadata (with migrations too) so that every table the app and the tests "
                                   "write to is among them.")):
        for _run in range(2):  # the second: what the first left was removed
            result = run_case(case)
            assert len(result.errors) == 1, problems(result)
            message = result.errors[0][1].rstrip().splitlines()[-1]
            assert message.startswith("harness.errors.IsolationError: TestWidgets left 2 rows in table widgets "
                                      "(expected 0 after the class) of the shared test database 'harness_")
            assert message.endswith(advice)
