"""DatabaseTestBase behaves the same under every runner: each hook once, in order."""

import sys

import pytest
from sqlalchemy import func, select

from harness import DatabaseTestBase
from harness.bases import DatabaseTestMixin
from harness.data import schema
from harness.registry import registry
from tests.bases.conftest import run_case, settled_connections_to
from tests.helpers import MODELS, RUNNER_STYLES, assert_nothing_left, clean_env, run_pytest, run_python, write
from tests.models import Base, User

PRELUDE = '''
import os

from sqlalchemy import func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from harness import DatabaseTestBase
from harness.bases import DatabaseTestMixin

LOG = os.path.join(os.path.dirname(__file__), "calls.log")


def log(event):
    with open(LOG, "a") as handle:
        handle.write(event + "\\n")
'''

SUITE = PRELUDE + '''

class Hooks:
    @classmethod
    def setup_models(cls):
        log("setup_models")

        class Thing(cls.Base):
            __tablename__ = "runner_things"
            id: Mapped[int] = mapped_column(primary_key=True)

        cls.Thing = Thing

    @classmethod
    def seed_data(cls, session):
        log("seed_data")
        session.add(cls.Thing(id=1))

    def test_a(self):
        log("test_a")
        self.session.add(self.Thing(id=2))
        self.session.commit()
        assert self.session.scalar(select(func.count()).select_from(self.Thing)) == 2

    def test_b(self):
        log("test_b")
        assert self.session.scalar(select(func.count()).select_from(self.Thing)) == 1
'''

UNITTEST_CASE = '''
class TestStyle(Hooks, DatabaseTestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        log("user setUpClass")

    def setUp(self):  # no super(): harness sets up around the whole test case anyway
        log("user setUp")
        assert self.session is not None

    def tearDown(self):
        log("user tearDown")

    @classmethod
    def tearDownClass(cls):
        log("user tearDownClass")
        super().tearDownClass()
'''

PYTEST_CASE = '''
class TestStyle(Hooks, DatabaseTestMixin):
    @classmethod
    def setup_class(cls):
        super().setup_class()
        log("user setUpClass")

    def setup_method(self, method):
        super().setup_method(method)
        log("user setUp")
        assert self.session is not None

    def teardown_method(self, method):
        log("user tearDown")
        super().teardown_method(method)

    @classmethod
    def teardown_class(cls):
        log("user tearDownClass")
        super().teardown_class()
'''

EXPECTED = [
    "setup_models", "seed_data", "user setUpClass",
    "user setUp", "test_a", "user tearDown",
    "user setUp", "test_b", "user tearDown",
    "user tearDownClass",
]


@pytest.mark.parametrize("style", ["plain pytest class", "TestCase under pytest", "python -m unittest"])
def test_each_hook_runs_once_in_order(tmp_path, style):
    case = PYTEST_CASE if style == "plain pytest class" else UNITTEST_CASE
    write(tmp_path, "test_style.py", SUITE + case)
    if style == "python -m unittest":
        result = run_python(["-m", "unittest", "-v", "test_style"], tmp_path)
        assert "Ran 2 tests" in result.stderr and "OK" in result.stderr, result.stderr
    else:
        result = run_pytest(tmp_path, "test_style.py")
        assert "2 passed" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "calls.log").read_text().split("\n")[:-1] == EXPECTED
    assert result.returncode == 0
    assert_nothing_left(result)


def test_failure_in_class_setup_is_reported_under_every_runner(tmp_path):
    write(tmp_path, "test_broken.py", '''
from harness import DatabaseTestBase

class TestBroken(DatabaseTestBase):
    isolation = "rollback"

    def test_x(self):
        pass
''')
    result = run_pytest(tmp_path, "test_broken.py")
    assert "valid values: 'transaction', 'tracked', 'truncate'" in result.stdout
    assert result.returncode == 1
    assert_nothing_left(result)
    result = run_python(["-m", "unittest", "test_broken"], tmp_path)
    assert "valid values: 'transaction', 'tracked', 'truncate'" in result.stderr
    # From Python 3.12 unittest exits with 5 when no test ran, as here (the class setup failed).
    assert result.returncode == (5 if sys.version_info >= (3, 12) else 1)
    assert_nothing_left(result)


def test_unittest_failure_prints_the_seed_to_replay(tmp_path):
    write(tmp_path, "test_fails.py", '''
from harness import DatabaseTestBase

class TestFails(DatabaseTestBase):
    database = "sqlite"

    def test_x(self):
        self.assertEqual(1, 2)
''')
    result = run_python(["-m", "unittest", "test_fails"], tmp_path, env=None)
    assert result.returncode == 1
    assert "replay with HARNESS_SEED=" in result.stderr


# -- a subclass's pytest-style hooks, under every runner --------------------------------------------

HOOKS_SUITE = PRELUDE + '''
SUPER = os.environ["CALL_SUPER"] == "1"


class Hooks:
    @classmethod
    def setup_models(cls):
        class Thing(cls.Base):
            __tablename__ = "hook_things"
            id: Mapped[int] = mapped_column(primary_key=True)

        cls.Thing = Thing

    @classmethod
    def setup_class(cls):
        if SUPER:
            super().setup_class()
        with cls.engine.connect() as connection:  # harness's class step ran before this body
            connection.execute(text("SELECT 1"))
        cls.client = "made in setup_class at " + cls.database_url.split("@")[-1]
        log("setup_class")

    def setup_method(self, method=None):  # pytest passes the test function; guides often leave it out
        if SUPER:
            super().setup_method()
        self.session.execute(text("SELECT 1"))  # and its test step before this one
        self.inserted = 0
        log("setup_method")

    def test_a(self):
        log("test_a")
        assert self.client.startswith("made in setup_class at 127.0.0.1:")
        self.session.add(self.Thing(id=1))
        self.session.commit()
        self.inserted = 1

    def test_b(self):
        log("test_b")
        assert self.session.scalar(select(func.count()).select_from(self.Thing)) == 0  # test_a's row is gone

    def teardown_method(self, method=None):
        # harness rolls the test back after this body, not before
        assert self.session.scalar(select(func.count()).select_from(self.Thing)) == self.inserted
        log("teardown_method")
        if SUPER:
            super().teardown_method()

    @classmethod
    def teardown_class(cls):
        with cls.engine.connect() as connection:  # and the class after this one
            connection.execute(text("SELECT 1"))
        log("teardown_class")
        if SUPER:
            super().teardown_class()
'''

HOOKS_UNITTEST_CASE = '''
class TestStyle(Hooks, DatabaseTestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        log("setUpClass")

    def setUp(self):
        log("setUp")
        self.addCleanup(log, "cleanup")

    def tearDown(self):
        log("tearDown")

    @classmethod
    def tearDownClass(cls):
        with cls.engine.connect() as connection:  # harness's class step is undone last
            connection.execute(text("SELECT 1"))
        log("tearDownClass")
        super().tearDownClass()
'''

HOOKS_PYTEST_CASE = "class TestStyle(Hooks, DatabaseTestMixin):\n    pass\n"

PER_TEST = ["setup_method", "setUp", "test", "tearDown", "cleanup", "teardown_method"]


def _expected(style):
    """pytest's order for a TestCase (python -m unittest must give the same); a plain class lacks the unittest names."""
    unittest_names = ("setUpClass", "tearDownClass", "setUp", "tearDown", "cleanup")
    calls = ["setUpClass", "setup_class"]
    for test in ("test_a", "test_b"):
        calls += [test if name == "test" else name for name in PER_TEST]
    calls += ["teardown_class", "tearDownClass"]
    if style == "plain pytest class":
        calls = [name for name in calls if name not in unittest_names]
    return calls


@pytest.mark.parametrize("calls_super", [True, False], ids=["calling super", "not calling super"])
@pytest.mark.parametrize("style", RUNNER_STYLES)
def test_setup_and_teardown_hooks_run_once_each_in_pytests_order_under_every_runner(tmp_path, style, calls_super):
    case = HOOKS_PYTEST_CASE if style == "plain pytest class" else HOOKS_UNITTEST_CASE
    write(tmp_path, "test_style.py", HOOKS_SUITE + case)
    env = clean_env(CALL_SUPER="1" if calls_super else "0")
    if style == "python -m unittest":
        result = run_python(["-m", "unittest", "-v", "test_style"], tmp_path, env=env)
        assert "Ran 2 tests" in result.stderr and result.stderr.rstrip().endswith("OK"), result.stderr
    else:
        result = run_pytest(tmp_path, "test_style.py", env=env)
        assert result.stdout.rstrip().split("\n")[-1].startswith("2 passed in"), result.stdout + result.stderr
    assert (tmp_path / "calls.log").read_text().split() == _expected(style)
    assert result.returncode == 0
    assert_nothing_left(result)


FAILING_SETUP_CLASS = '''
import os

from harness import DatabaseTestBase
from harness.bases import DatabaseTestMixin
from tests_models import Base


def log(event):
    with open(os.path.join(os.path.dirname(__file__), "calls.log"), "a") as handle:
        handle.write(event + "\\n")


class Hooks:
    metadata = Base.metadata

    @classmethod
    def setup_class(cls):
        super().setup_class()
        with cls.engine.connect():
            log("setup_class")
        raise RuntimeError("the broker client could not be built")

    def test_x(self):
        log("test_x")

    @classmethod
    def teardown_class(cls):
        log("teardown_class")
        super().teardown_class()


class TestStyle(Hooks, {base}):
    pass
'''


@pytest.mark.parametrize("style", RUNNER_STYLES)
def test_a_failing_setup_class_is_reported_and_releases_the_class(tmp_path, style):
    base = "DatabaseTestMixin" if style == "plain pytest class" else "DatabaseTestBase"
    write(tmp_path, "tests_models.py", MODELS)
    write(tmp_path, "test_style.py", FAILING_SETUP_CLASS.replace("{base}", base))
    if style == "python -m unittest":
        result = run_python(["-m", "unittest", "test_style"], tmp_path)
        output = result.stderr
        assert "ERROR: setUpClass (test_style.TestStyle)" in output, output
    else:
        result = run_pytest(tmp_path, "test_style.py")
        output = result.stdout
        assert "1 error" in output, output + result.stderr
    assert "RuntimeError: the broker client could not be built" in output
    assert result.returncode != 0
    # As under pytest: no test and no teardown_class after a failed setup_class.
    assert (tmp_path / "calls.log").read_text().split() == ["setup_class"]
    assert_nothing_left(result)


@pytest.mark.parametrize("base", [DatabaseTestBase, DatabaseTestMixin])
def test_a_failing_setup_class_gives_back_all_the_class_took(base):
    endpoint = registry.acquire("postgres")
    database = schema.shared_database(endpoint, metadata=Base.metadata)
    references = registry.references(endpoint)
    database.engine.dispose()
    before = settled_connections_to(database.engine, database.name)
    ran = []

    class Case(base):
        metadata = Base.metadata

        @classmethod
        def setup_class(cls):
            super().setup_class()
            cls.engine.connect().close()
            raise RuntimeError("setup_class failed")

        def test_x(self):
            ran.append("test_x")

        @classmethod
        def teardown_class(cls):
            ran.append("teardown_class")

    if base is DatabaseTestBase:
        result = run_case(Case)
        [(_, trace)] = result.errors
        assert trace.rstrip().endswith("RuntimeError: setup_class failed")
    else:  # as pytest calls it
        with pytest.raises(RuntimeError, match="setup_class failed"):
            Case.setup_class()
    assert ran == []  # as under pytest: neither the tests nor teardown_class after a failed setup_class
    assert "engine" not in Case.__dict__ and "_harness_state" not in Case.__dict__
    assert registry.references(endpoint) == references
    database.engine.dispose()  # closes the idle connections the pool keeps: one still checked out would count
    assert settled_connections_to(database.engine, database.name) == before


def test_a_failing_setup_method_fails_its_own_test_and_undoes_what_it_did():
    ran = []

    class Case(DatabaseTestBase):
        metadata = Base.metadata

        def setup_method(self, method):
            super().setup_method(method)
            self.session.add(User(name="from setup_method"))
            self.session.flush()
            if method.__name__ == "test_1":
                raise RuntimeError("setup_method failed")

        def test_1(self):
            ran.append("test_1")

        def test_2(self):
            ran.append("test_2")
            assert self.session.scalar(select(func.count()).select_from(User)) == 1  # its own only

        def teardown_method(self, method):
            ran.append("teardown_method")

    result = run_case(Case)
    [(test, trace)] = result.errors + result.failures
    assert test._testMethodName == "test_1" and "RuntimeError: setup_method failed" in trace
    assert ran == ["test_2", "teardown_method"]


@pytest.mark.parametrize("hook", ["setUpClass", "setup_class"])
def test_a_setting_changed_by_a_class_hook_after_harness_read_it_is_refused(hook):
    def set_isolation(cls):
        getattr(super(case, cls), hook)()
        cls.isolation = "truncate"

    case = type("Case", (DatabaseTestBase,), {
        "database": "sqlite", hook: classmethod(set_isolation), "test_x": lambda self: None,
    })
    result = run_case(case)
    assert result.errors[0][1].rstrip().endswith(
        f"ConfigError: Case.{hook}() set isolation, but harness had already set the class up from its class "
        "attributes (before setup_class runs, and at super().setUpClass()), so it would be ignored. Set it in the "
        "class body instead: isolation = ..."
    )
    assert "engine" not in case.__dict__


def test_teardown_class_runs_once_however_often_the_class_is_torn_down():
    ran = []

    class Case(DatabaseTestBase):
        database = "sqlite"

        @classmethod
        def teardown_class(cls):
            ran.append("teardown_class")
            super().teardown_class()

        def test_x(self):
            pass

    run_case(Case)
    Case.tearDownClass()  # the class is torn down already: nothing is left to tear down
    assert ran == ["teardown_class"]
