"""DatabaseTestBase behaves the same under every runner: each hook once, in order."""

import sys

import pytest

from tests.helpers import assert_nothing_left, run_pytest, run_python, write

SUITE = '''
import os
import unittest

from sqlalchemy import func, select
from sqlalchemy.orm import Mapped, mapped_column

from harness.bases import DatabaseTestMixin
from harness import DatabaseTestBase

LOG = os.path.join(os.path.dirname(__file__), "calls.log")


def log(event):
    with open(LOG, "a") as handle:
        handle.write(event + "\\n")


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
