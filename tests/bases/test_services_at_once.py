"""A class combining bases asks for all its services at once (started in parallel), and for no other."""

import json
import threading

import pytest

from harness import DatabaseTestBase
from harness.bases import cache as cache_base
from harness.bases import messaging as messaging_base
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


def test_a_class_using_three_services_starts_them_together_and_makes_their_resources_at_once(asked, made):
    class TestEverything(CacheTestMixin, MessageQueueTestMixin, DatabaseTestBase):
        metadata = Base.metadata

        def test_all_three_are_there(self):
            assert self.engine is not None and self.redis.ping() and self.kafka.create_topic("made")

    result = run_case(TestEverything)
    assert problems(result) == [] and result.testsRun == 1
    assert sorted(name for name, _thread in asked) == ["kafka", "postgres", "redis"]  # each once
    # In the start threads of one acquire_all, not one after another in the test's thread.
    assert all(thread.startswith("harness-start") for _name, thread in asked), asked
    # The Redis lease and the Kafka admin client, while the first base (the database's) builds its database.
    assert set(made["threads"]) == {"lease", "admin"}
    assert all(thread.startswith("harness-prepare") for thread in made["threads"].values()), made["threads"]
    assert made["closed"] == ["admin"]


def test_a_class_on_sqlite_does_not_start_postgres(asked):
    class TestCachedOnSqlite(CacheTestMixin, DatabaseTestBase):
        database = "sqlite"
        metadata = Base.metadata

        def test_cache(self):
            self.redis.set("key", "value")

    result = run_case(TestCachedOnSqlite)
    assert problems(result) == [] and result.testsRun == 1
    assert [name for name, _thread in asked] == ["redis"]


@pytest.fixture()
def made(monkeypatch):
    """The thread each class resource (the Redis lease, the Kafka admin client) was made in, and what was closed."""
    record = {"threads": {}, "closed": []}
    open_lease, new_admin_client = cache_base.open_lease, messaging_base.new_admin_client

    def lease(endpoint, label):
        record["threads"]["lease"] = threading.current_thread().name
        return open_lease(endpoint, label)

    def admin(endpoint):
        record["threads"]["admin"] = threading.current_thread().name
        client = new_admin_client(endpoint)
        close = client.close
        client.close = lambda: (record["closed"].append("admin"), close())
        return client

    monkeypatch.setattr(cache_base, "open_lease", lease)
    monkeypatch.setattr(messaging_base, "new_admin_client", admin)
    return record


def held_leases(endpoint, label):
    from harness.data.leases import LEASE_PREFIX
    from harness.services.redis import redis_py

    with redis_py().Redis.from_url(endpoint.url, decode_responses=True) as control:
        holders = [control.get(key) for key in control.scan_iter(match=f"{LEASE_PREFIX}*")]
    return [holder for holder in holders if holder and json.loads(holder).get("holder") == label]


def test_resources_made_for_a_class_whose_setup_failed_are_given_back(made, redis_server):
    class TestSeedFails(CacheTestMixin, MessageQueueTestMixin, DatabaseTestBase):
        metadata = Base.metadata

        @classmethod
        def seed_data(cls, session):
            raise RuntimeError("seed failed")  # after the lease and the admin client were started

        def test_never_runs(self):
            raise AssertionError("must not run")

    result = run_case(TestSeedFails)
    [(_test, trace)] = result.errors
    assert "RuntimeError: seed failed" in trace
    assert set(made["threads"]) == {"lease", "admin"}  # both were made, neither claimed by its base
    assert made["closed"] == ["admin"]
    assert held_leases(redis_server, f"{TestSeedFails.__module__}.{TestSeedFails.__qualname__}") == []
