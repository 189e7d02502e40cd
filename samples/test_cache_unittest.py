"""The read-through user cache tested the unittest way, on a real PostgreSQL and a real Redis.

``CacheTestBase`` and ``DatabaseTestBase`` combine: the class gets its own Redis
database (emptied after each test) and a rolled-back database session.
"""

import unittest

from harness import CacheTestBase, DatabaseTestBase
from samples.shop.cache import CachedUsers
from samples.shop.models import Base
from samples.shop.repository import ShopRepository


class TestCachedUsers(CacheTestBase, DatabaseTestBase):
    metadata = Base.metadata

    def setUp(self):
        self.repository = ShopRepository(self.session)
        self.users = CachedUsers(self.repository, self.redis, ttl_seconds=300)
        self.ada = self.repository.create_user("ada@example.com", "Ada")

    def test_a_miss_reads_postgres_and_fills_the_cache(self):
        self.assertEqual(self.users.get(self.ada.id)["name"], "Ada")
        self.assertEqual((self.users.hits, self.users.misses), (0, 1))
        self.assert_key(f"user:{self.ada.id}", {"id": self.ada.id, "email": "ada@example.com", "name": "Ada"},
                        ttl_between=(290, 300))

    def test_a_hit_does_not_touch_postgres(self):
        self.users.get(self.ada.id)
        self.repository.delete_user(self.ada)  # gone from PostgreSQL, still cached
        self.assertEqual(self.users.get(self.ada.id)["name"], "Ada")
        self.assertEqual((self.users.hits, self.users.misses), (1, 1))

    def test_renaming_invalidates_the_cached_copy(self):
        self.users.get(self.ada.id)
        self.users.rename(self.ada.id, "Ada Lovelace")
        self.assertEqual(self.keys(), [])
        self.assertEqual(self.users.get(self.ada.id)["name"], "Ada Lovelace")

    def test_an_expired_entry_is_read_again(self):
        self.users.get(self.ada.id)
        self.redis.expire(f"user:{self.ada.id}", 0)  # as if its 300 s had passed: Redis drops it now
        self.assertEqual(self.keys(), [])
        self.users.get(self.ada.id)
        self.assertEqual(self.users.misses, 2)

    def test_each_test_starts_with_an_empty_cache(self):
        # The tests above cached users; this class's database was emptied after each of them.
        self.assertEqual(self.keys("user:*"), [])


if __name__ == "__main__":
    unittest.main()
