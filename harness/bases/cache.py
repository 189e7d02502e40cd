"""CacheTestBase: a real Redis, a logical database per test class, emptied after every test."""

from __future__ import annotations

import unittest
from contextlib import ExitStack
from typing import Any, ClassVar

from harness.bases.attributes import Replaceable
from harness.bases.lifecycle import HarnessLifecycle, Resource, forget_class_attributes
from harness.data import cache
from harness.data.leases import DatabaseLease, close_lease, lease_owner, open_lease
from harness.services.base import mask_url
from harness.services.redis import redis_py

__all__ = ["CacheTestBase", "CacheTestMixin", "lease_owner"]

_LEASE = Resource(make=lambda endpoint, cls: open_lease(endpoint, f"{cls.__module__}.{cls.__qualname__}"),
                  undo=close_lease)
"""The class's own Redis database."""


class CacheTestMixin(HarnessLifecycle):
    """The cache lifecycle without unittest.TestCase, for plain pytest classes.

    ``CacheTestBase`` is this plus ``unittest.TestCase``; see it for the attributes.
    """


    redis_url: ClassVar[str]
    """The URL of this class's own logical database (with the server's password)."""
    redis_database: ClassVar[int]
    _harness_redis_lease: ClassVar[DatabaseLease]
    _harness_redis_pool: ClassVar[Any]
    _harness_redis_client: Any

    @Replaceable
    def redis(self) -> Any:
        """This test's ``redis.Redis`` client on the class's database, answering ``str``; or the client the class
        or the test sets itself (``keys()`` and ``assert_key()`` keep using harness's)."""
        return self._harness_redis_client

    @classmethod
    def _harness_services(cls) -> tuple[str, ...]:
        return (*super()._harness_services(), "redis")

    @classmethod
    def _harness_resources(cls) -> dict[str, Resource]:
        return {**super()._harness_resources(), "redis": _LEASE}

    @classmethod
    def _harness_setup_class(cls, stack: ExitStack) -> None:
        super()._harness_setup_class(stack)
        lease: DatabaseLease
        _endpoint, lease = cls._harness_resource(stack, "redis")
        pool = redis_py().ConnectionPool.from_url(lease.url, decode_responses=True)
        stack.callback(pool.disconnect)
        cls._harness_redis_lease = lease
        cls._harness_redis_pool = pool
        cls.redis_url = lease.url
        cls.redis_database = lease.database  # type: ignore[assignment]  # set by acquire()
        stack.callback(
            forget_class_attributes,
            cls,
            ("redis_url", "redis_database", "_harness_redis_lease", "_harness_redis_pool"),
        )

    def _harness_setup_test(self, stack: ExitStack) -> None:
        super()._harness_setup_test(stack)
        cls = type(self)
        cls._harness_redis_lease.renew()  # raises, before anything is flushed, if the database is not ours
        client = self._harness_redis_client = redis_py().Redis(connection_pool=cls._harness_redis_pool)
        stack.callback(client.close)
        stack.callback(client.flushdb)  # runs first: whatever the test's outcome

    def _harness_failure_hint(self) -> str:
        hints = [super()._harness_failure_hint()]
        url = type(self).__dict__.get("redis_url")
        if url is not None:
            hints.append(f"harness: this class's Redis database: {mask_url(url)} (emptied after each test)")
        return "\n".join(hint for hint in hints if hint)

    # -- helpers for tests -------------------------------------------------------------------

    def keys(self, pattern: str = "*") -> list[str]:
        """A sorted snapshot of the keys in this class's database matching ``pattern``."""
        return cache.keys(self._harness_redis_client, pattern)

    def assert_key(self, key: str, value: Any = None, ttl_between: tuple[float, float] | None = None) -> Any:
        """Fail unless ``key`` exists (holding ``value``, expiring within ``ttl_between`` seconds); return its value."""
        return cache.assert_key(self._harness_redis_client, key, value, ttl_between)


class CacheTestBase(CacheTestMixin, unittest.TestCase):
    """A test case on a real Redis: the class gets a logical database of its own, emptied after every test.

    Gives ``cls.redis_url`` (hand it to the code under test) and
    ``cls.redis_database``; per test ``self.redis`` (``redis.Redis``, decoded
    strings), ``self.keys(pattern)`` and ``self.assert_key(key, value,
    ttl_between)``::

        class TestSessions(CacheTestBase):
            def test_login_stores_a_session_for_an_hour(self):
                store = SessionStore(self.redis_url)
                token = store.login("ada")
                self.assert_key(f"session:{token}", {"user": "ada"}, ttl_between=(3590, 3600))
                assert self.keys("session:*") == [f"session:{token}"]

    A client of your own set on the class (``cls.redis = redis.Redis.from_url(cls.redis_url)``
    in ``setup_class``) or on the test (in ``setup_method``) is what ``self.redis``
    gives; ``keys()`` and ``assert_key()`` keep using harness's client, and the
    database is emptied after each test whichever client wrote to it. Harness
    closes only its own client: yours is yours to close.
    """
