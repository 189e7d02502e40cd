"""A class combining bases asks for all its services at once (started in parallel), and for no other."""

import threading

import pytest

from harness import DatabaseTestBase
from harness.bases.cache import CacheTestMixin
from harness.bases.messaging import MessageQueueTestMixin
from harness.registry import Registry
from tests.bases.conftest import problems, run_case
from tests.models import Base


@pytest.fixture()
def asked(monkeypatch):
    """Each call of the registry's acquire: (service, the thread it ran in)."""
    calls = []
    acquire = Registry.acquire

    def spy(self, name, config=None):
        calls.append((name, threading.current_thread().name))
        return acquire(self, name, config)

    monkeypatch.setattr(Registry, "acquire", spy)
    return calls


def test_a_class_using_three_services_starts_them_together(asked):
    class TestEverything(CacheTestMixin, MessageQueueTestMixin, DatabaseTestBase):
        metadata = Base.metadata

        def test_all_three_are_there(self):
            assert self.engine is not None and self.redis.ping() and self.bootstrap_servers

    result = run_case(TestEverything)
    assert problems(result) == [] and result.testsRun == 1
    assert sorted(name for name, _thread in asked) == ["kafka", "postgres", "redis"]  # each once
    # In the start threads of one acquire_all, not one after another in the test's thread.
    assert all(thread.startswith("harness-start") for _name, thread in asked), asked


def test_a_class_on_sqlite_does_not_start_postgres(asked):
    class TestCachedOnSqlite(CacheTestMixin, DatabaseTestBase):
        database = "sqlite"
        metadata = Base.metadata

        def test_cache(self):
            self.redis.set("key", "value")

    result = run_case(TestCachedOnSqlite)
    assert problems(result) == [] and result.testsRun == 1
    assert [name for name, _thread in asked] == ["redis"]
